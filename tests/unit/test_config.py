"""Config validation: defaults, and one message naming the key for every kind of mistake."""

from __future__ import annotations

import copy
import os
import re
import shutil

import pytest
import yaml
from conftest import REPO

from colliderfm import conf as cfg
from colliderfm import schema


@pytest.fixture()
def base() -> dict:
    return yaml.safe_load((REPO / "config" / "test.yaml").read_text())


def test_shipped_configs_are_valid():
    for name in ("config.yaml", "test.yaml"):
        config = cfg.load(REPO / "config" / name)
        assert set(config["model"]["variants"])
    default = cfg.load(REPO / "config" / "config.yaml")
    assert list(default["model"]["variants"]) == ["small_1h", "small_5h", "large_1h", "large_5h"]
    assert default["pretrain"]["mask_fraction"] == 0.3


def test_defaults_are_filled(base):
    config = cfg.validate(base)
    assert config["selection"]["jet_pt_min"] == 25.0
    assert config["ingest"]["tree"] == "Delphes"
    assert config["pretrain"]["mask_fraction"] == 0.3
    assert config["split"] == {"train": 0.6, "val": 0.2, "test": 0.2}


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda c: c["pretrain"].update(epochs="many"), "pretrain.epochs"),
        (lambda c: c.update(seeed=3), "<top level>"),
        (lambda c: c["classifier"].update(learning_rate=0.1), "classifier"),
        (lambda c: c["model"]["variants"].update(tiny={"dim": 12, "heads": 5}), "model.variants.tiny"),
        (lambda c: c["data_efficiency"].update(variants=["huge"]), "data_efficiency.variants"),
        (lambda c: c["samples"].pop("tops3"), "tasks.tops.classes.3 top"),
        (lambda c: c["samples"].update({"../evil": {"generate": {"tchan": 10}}}), "samples"),
        (lambda c: c["model"]["variants"].update({"a b": {"dim": 10, "heads": 1}}), "model.variants"),
        (lambda c: c["samples"]["tops2"].update(files=["x.root"]), "samples.tops2"),
        (lambda c: c["samples"]["tops2"]["generate"].update(qcd=10), "samples.tops2.generate"),
        (lambda c: c.update(split={"train": 0.5, "val": 0.2, "test": 0.2}), "split"),
        (lambda c: c["samples"]["tchan_dm"].update(anomaly="background"), "samples"),
        (lambda c: c.update(device="tpu"), "device"),
        (lambda c: c["plots"].update(formats=["gif"]), "plots.formats.0"),
    ],
)
def test_mistakes_name_the_key(base, change, key):
    bad = copy.deepcopy(base)
    change(bad)
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(bad)
    assert f"config key '{key}'" in str(err.value)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("seed: !!python/object/apply:os.system ['echo owned']\n")
    with pytest.raises(cfg.ConfigError, match="not valid YAML"):
        cfg.load(path)


def test_missing_files_of_a_sample_are_named(base, tmp_path):
    base["samples"]["tops2"] = {"files": [str(tmp_path / "nothing-*.root")]}
    with pytest.raises(cfg.ConfigError, match=r"samples\.tops2\.files\[0\]': no file matches"):
        cfg.validate(base)


@pytest.mark.parametrize("where", ["same sample", "two samples", "two spellings"])
def test_a_file_given_twice_is_refused(base, tmp_path, where):
    given = tmp_path / "a.root"
    given.write_bytes(b"root")
    base["samples"]["tops2"] = {"files": [str(given)]}
    if where == "same sample":
        base["samples"]["tops2"]["files"].append(str(tmp_path / "*.root"))
    else:
        spelling = str(given) if where == "two samples" else f"{tmp_path}/../{tmp_path.name}/a.root"
        base["samples"]["tops3"] = {"files": [spelling]}
    with pytest.raises(cfg.ConfigError, match=f"{given} is given twice"):
        cfg.validate(base)


@pytest.mark.parametrize("how", ["hard link", "copy"])
def test_the_same_events_under_two_names_are_refused(base, tmp_path, how):
    given, other = tmp_path / "a.root", tmp_path / "b.root"
    given.write_bytes(b"root events")
    (tmp_path / "c.root").write_bytes(b"root EVENTS")  # same size, other bytes: no duplicate
    os.link(given, other) if how == "hard link" else shutil.copy(given, other)
    original = base["samples"]["tops3"]
    base["samples"]["tops2"] = {"files": [str(given), str(tmp_path / "c.root")]}
    base["samples"]["tops3"] = {"files": [str(other)]}
    with pytest.raises(
        cfg.ConfigError,
        match=rf"samples\.tops3\.files': {other} holds the same events as "
        rf"{given} \(.*\), also in samples\.tops2;",
    ):
        cfg.validate(base)
    base["samples"]["tops3"] = {"files": [str(tmp_path / "c.root")]}
    with pytest.raises(cfg.ConfigError, match="is given twice"):
        cfg.validate(base)
    base["samples"]["tops3"] = original
    cfg.validate(base)  # c.root: same size as a.root, other events


@pytest.mark.parametrize(
    "text, key",
    [
        (
            "samples: {a: {generate: {ttbar: 600.0}}}\ntasks: {t: {classes: {x: [a], y: [a]}}}",
            "samples.a.generate.ttbar",
        ),
        (
            "pretrain: {epochs: 2.0}\nsamples: {a: {generate: {ttbar: 6}}}\ntasks: {t: {classes: {x: [a], y: [a]}}}",
            "pretrain.epochs",
        ),
        ("seed: true\nsamples: {a: {generate: {ttbar: 6}}}\ntasks: {t: {classes: {x: [a], y: [a]}}}", "seed"),
    ],
)
def test_integers_must_be_written_as_integers(tmp_path, text, key):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(cfg.ConfigError, match=f"config key '{re.escape(key)}'"):
        cfg.load(path)


def test_a_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 1\nplots: {dpi: 60, dpi: 70}\n")
    with pytest.raises(cfg.ConfigError, match="key 'dpi' is given twice"):
        cfg.read(path)


def test_shards_cover_every_event(base):
    base["simulation"] = {"events_per_shard": 250}
    config = cfg.validate(base)
    shards = cfg.shards(config, "tops0")
    assert list(shards) == ["wjets-0", "wjets-1", "zjets-0", "zjets-1"]
    events = [cfg.shard_events(config, "tops0", s) for s in shards]
    assert events == [("wjets", 250, 0), ("wjets", 50, 250), ("zjets", 250, 0), ("zjets", 50, 250)]


def test_model_list_and_names_round_trip(base):
    config = cfg.validate(base)
    specs = cfg.model_specs(config)
    names = [
        "small_1h-finetune-100pct",
        "small_1h-scratch-100pct",
        "small_5h-finetune-100pct",
        "small_5h-scratch-100pct",
        "bdt",
    ]
    assert [(s.task, s.name) for s in specs] == [(t, n) for t in ("tops", "dm") for n in names], (
        "every task, every model; the grid is efficiency_specs, not evaluated in full"
    )
    assert len({s.directory for s in specs}) == len(specs)
    assert len(set(cfg.seed_for(config, "pretrain", v) for v in config["model"]["variants"])) == 2


def test_data_efficiency_grid_pairs_its_starts(base):
    """Every (task, fraction, seed) point has each start once per encoder, all with one seed and label subset."""
    base["data_efficiency"] = {
        "variants": ["small_5h"],
        "label_fractions": [0.001, 0.1],
        "tasks": ["tops", "dm"],
        "starts": ["finetune", "scratch", "probe"],
        "seeds": 3,
        "pretexts": [["generator", "objects"], ["variables"], ["objects", "generator"]],
    }
    config = cfg.validate(base)
    assert config["data_efficiency"]["pretexts"] == [["objects", "generator"], ["variables"]], (
        "one canonical order, each combination once"
    )
    specs = cfg.efficiency_specs(config)
    assert len(specs) == 2 * 2 * 3 * (1 + 2 + 2)
    assert len({(s.directory, s.replica) for s in specs}) == len(specs)
    assert len({s.directory for s in specs}) == len(specs) // 3, "a point's folder holds its three seeds"
    for point in {(s.task, s.fraction, s.replica) for s in specs}:
        members = [s for s in specs if (s.task, s.fraction, s.replica) == point]
        seeds = {
            cfg.training_job(
                config,
                s.start,
                s.variant,
                s.fraction,
                task=s.task,
                replica=s.replica,
                pretext=None if s.pretext == "none" else s.pretext.split("+"),
            ).seed
            for s in members
        }
        assert len(seeds) == 1, "scratch and fine-tuned share the seed of their point"
    assert cfg.encoders(config) == [
        ("small_1h", "variables"),
        ("small_5h", "variables"),
        ("small_5h", "objects+generator"),
    ]
    probe = cfg.training_job(config, "probe", "small_5h", 0.001, task="dm", pretext=["objects", "generator"], replica=1)
    assert (len(probe.classes), probe.pretext) == (2, ("objects", "generator"))
    assert cfg.training_job(config, "scratch", "small_5h", 0.001, replica=1).pretext == ()


@pytest.mark.parametrize(
    "spec, needle",
    [
        ({"pool": True, "label": 1, "generate": {"ttbar": 10}}, "samples.extra.label"),
        ({"pool": True, "anomaly": "scan", "generate": {"ttbar": 10}}, "at most one of 'anomaly' or 'pool: true'"),
        ({"pool": False, "generate": {"ttbar": 10}}, "samples.extra.pool"),
    ],
)
def test_a_pool_sample_is_unlabelled(base, spec, needle):
    base["samples"]["extra"] = spec
    with pytest.raises(cfg.ConfigError, match=re.escape(needle)):
        cfg.validate(base)


def test_the_schema_names_exactly_the_simulated_processes():
    from colliderfm import sim as simulate

    generate = schema.document()["properties"]["samples"]["additionalProperties"]["properties"]["generate"]
    assert generate["propertyNames"]["enum"] == list(simulate.PROCESSES)
    assert simulate.SimulationOptions.default() == simulate.SimulationOptions(
        **{
            k: v
            for k, v in cfg.section_defaults("simulation").items()
            if k not in ("events_per_shard", "validation_events")
        }
    )


@pytest.mark.parametrize("key", ["seeds", "encoder_lr_scale"])
def test_data_efficiency_settings_per_label_fraction(base, key):
    """A list of seed counts gives each label fraction its own number of seeds, a list of encoder
    learning-rate scales its own scale; a list of the wrong length names the key."""
    base["data_efficiency"] = {
        "variants": ["small_5h"],
        "label_fractions": [0.001, 0.01, 0.1],
        "tasks": ["tops"],
        "starts": ["finetune", "scratch"],
        "seeds": [5, 3, 2],
        "encoder_lr_scale": [0.1, 0.3, 1.0],
    }
    config = cfg.validate(copy.deepcopy(base))
    specs = cfg.efficiency_specs(config)
    for fraction, n, scale in ((0.001, 5, 0.1), (0.01, 3, 0.3), (0.1, 2, 1.0)):
        assert sorted({s.replica for s in specs if s.fraction == fraction}) == list(range(1, n + 1))
        job = cfg.training_job(config, "finetune", "small_5h", float(f"{fraction * 100:g}") / 100, replica=1)
        assert job.training["encoder_lr_scale"] == scale
    assert len(specs) == (5 + 3 + 2) * 2
    base["data_efficiency"][key] = base["data_efficiency"][key][:2]
    with pytest.raises(cfg.ConfigError, match=f"data_efficiency.{key}"):
        cfg.validate(base)


def test_the_supervised_reference_encoder_is_the_tops_classifier_not_a_pretraining(base):
    """[supervised] in the grid fine-tunes and probes the classifier trained from scratch on all the tops
    labels: no encoder is pretrained for it, it keeps its name in the grid, and it stands alone. The
    grid's encoder_lr_scale applies to its fine-tuned models only."""
    base["data_efficiency"] = {
        "variants": ["small_5h"],
        "label_fractions": [0.01],
        "tasks": ["dm"],
        "starts": ["finetune", "scratch", "probe"],
        "seeds": 1,
        "pretexts": [["variables"], ["supervised"]],
        "encoder_lr_scale": 0.1,
    }
    config = cfg.validate(copy.deepcopy(base))
    assert {s.pretext for s in cfg.efficiency_specs(config)} == {"variables", "supervised", "none"}
    assert ("small_5h", "supervised") not in cfg.encoders(config)
    job = cfg.training_job(config, "finetune", "small_5h", 0.01, task="dm", pretext=["supervised"], replica=1)
    assert job.pretext == ("supervised",) and job.training["encoder_lr_scale"] == 0.1
    assert cfg.training_job(config, "finetune", "small_5h").training["encoder_lr_scale"] == 1.0, "main models"
    base["data_efficiency"]["pretexts"] = [["supervised", "variables"]]
    with pytest.raises(cfg.ConfigError, match=r"data_efficiency\.pretexts.*cannot be combined"):
        cfg.validate(base)


def test_pool_fractions_make_one_encoder_per_share_of_the_pool(base):
    """data_efficiency.pool_fractions: each pretext of the grid is pretrained once per share of the pool
    ('process-pool10'), from one start (the same seed), and fine-tuned at every point; [supervised] is the
    reference classifier's encoder, pretrained on nothing, so it has no share."""
    base["data_efficiency"] = {
        "variants": ["small_5h"],
        "label_fractions": [0.01],
        "tasks": ["dm"],
        "starts": ["finetune", "scratch"],
        "pretexts": [["variables"], ["supervised"]],
        "pool_fractions": [0.1, 1.0],
    }
    config = cfg.validate(copy.deepcopy(base))
    assert {s.pretext for s in cfg.efficiency_specs(config)} == {"variables-pool10", "variables", "supervised", "none"}
    assert ("small_5h", "variables-pool10") in cfg.encoders(config)
    assert cfg.parse_encoder("variables-pool10") == (["variables"], 0.1)
    assert cfg.parse_encoder("objects+generator") == (["objects", "generator"], 1.0)
    assert cfg.encoder_name(["generator", "objects"], 0.3) == "objects+generator-pool30"
    small, full = (
        cfg.training_job(config, "pretrain", "small_5h", pretext=["variables"], pool_fraction=f) for f in (0.1, 1)
    )
    assert small.seed == full.seed and small.encoder == "variables-pool10" and full.encoder == "variables"
    assert small.params() != full.params(), "a share of the pool is part of what the pretraining rule compares"
    scratch = cfg.training_job(config, "scratch", "small_5h", 0.01, task="dm", replica=1, pool_fraction=0.1)
    assert scratch.pool_fraction == 1.0, "a model from scratch has no encoder"
    base["data_efficiency"]["pool_fractions"] = [0.0]
    with pytest.raises(cfg.ConfigError, match="pool_fractions"):
        cfg.validate(base)


@pytest.mark.parametrize(
    "change, key, needle",
    [
        ({"mediator_mass": 1e6}, "simulation.mediator_mass", "M + m_t <= sqrt(s)"),
        ({"mediator_mass": 1e-9, "dm_mass": 1.0}, "simulation.dm_mass", "decays to two"),
        ({"dm_mass": 300.0}, "simulation.dm_mass", "[0, 250)"),
        ({"mediator_width": 400.0}, "simulation.mediator_width", "(0, 250]"),
        ({"zprime_mass": 300.0}, "simulation.zprime_mass", "M > 2 m_t"),
        ({"charged_higgs_mass": 20000.0}, "simulation.charged_higgs_mass", "M + m_t <= sqrt(s)"),
    ],
)
def test_unphysical_simulation_settings_are_refused_with_their_range(base, change, key, needle):
    base["simulation"] = {**base.get("simulation", {}), "mediator_mass": 500.0, **change}
    with pytest.raises(cfg.ConfigError, match=rf"config key '{re.escape(key)}': .*{re.escape(needle)}"):
        cfg.validate(base)


@pytest.mark.parametrize("value, key", [(0.0, "mediator_mass"), (-1.0, "mediator_width"), (-1.0, "dm_mass")])
def test_zero_or_negative_masses_and_widths_are_refused_by_the_schema(base, value, key):
    base["simulation"] = {**base.get("simulation", {}), key: value}
    with pytest.raises(cfg.ConfigError, match=rf"config key 'simulation\.{key}'"):
        cfg.validate(base)


def test_a_scan_sample_beyond_the_collision_energy_is_named(base):
    scan = next(name for name, spec in base["samples"].items() if "mediator_mass" in spec)
    base["samples"][scan]["mediator_mass"] = 20000.0
    with pytest.raises(cfg.ConfigError, match=rf"config key 'samples\.{scan}\.mediator_mass': 20000 GeV"):
        cfg.validate(base)


def rerun_table() -> list[list[str]]:
    """The rows of config/README.md's table (cells without the outer bars), header and rule left out."""
    lines = (REPO / "config" / "README.md").read_text().splitlines()
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("| `")]
    assert rows and all(len(row) == 3 for row in rows)
    return rows


def in_schema(schema: dict, name: str) -> bool:
    """Whether a dotted key is in the schema (an upper-case part stands for any name, as samples.NAME)."""
    node = {"properties": schema}
    for part in name.split("."):
        if part not in node.get("properties", {}):
            return part.isupper()
        node = node["properties"][part]
    return True


def test_config_readme_lists_every_section_and_key_of_the_schema():
    schema = yaml.safe_load((REPO / "colliderfm" / "config.schema.yaml").read_text())["properties"]
    listed = set()
    for keys, *_ in rerun_table():
        first, *siblings = re.findall(r"`([\w.]+)`", keys)
        section = first.split(".")[0]
        listed.add(section)
        parent = first.rsplit(".", 1)[0]
        for name in [first, *(f"{parent}.{n}" for n in siblings)]:
            assert in_schema(schema, name), f"config/README.md names {name}, which the schema lacks"
    assert listed == set(schema), "a section of the schema without its row, or a row of no section"


def test_config_readme_names_every_rule_of_the_workflow():
    text = "\n".join(row[2] for row in rerun_table())
    rules = set()
    for path in [REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]:
        rules |= set(re.findall(r"^\s*(?:rule|use rule \w+ as) (\w+)", path.read_text(), re.M))
    missing = {rule for rule in rules - {"all"} if f"`{rule}`" not in text}
    assert len(rules) > 10 and not missing, f"rules a config change re-runs, absent from config/README.md: {missing}"


def _study_with(*overlays: str) -> dict:
    """config/study.yaml with the overlays merged over it as Snakemake merges --configfile files, validated."""
    from snakemake.utils import update_config

    config = yaml.safe_load((REPO / "config" / "study.yaml").read_text())
    for name in overlays:
        update_config(config, yaml.safe_load((REPO / "config" / name).read_text()))
    return cfg.validate(config)


def test_the_pool_scaling_config_lays_a_pool_size_scan_over_the_study():
    """config/pool_scaling.yaml merged over config/study.yaml as Snakemake merges --configfile files: the study's
    samples and seed, the process encoder at four shares of the pool (one pretraining each, the same steps) and
    each fine-tuned on the three unseen tasks beside the same seeds from scratch."""
    study_samples = yaml.safe_load((REPO / "config" / "study.yaml").read_text())["samples"]
    config = _study_with("pool_scaling.yaml")
    assert config["samples"] == study_samples and config["seed"] == 20251112
    encoders = {p for v, p in cfg.encoders(config)}
    assert encoders == {"process", "process-pool1", "process-pool10", "process-pool30"}
    specs = cfg.efficiency_specs(config)
    assert {s.task for s in specs} == {"tth", "zprime", "tzq"} and {s.start for s in specs} == {"finetune", "scratch"}
    assert len({s.directory for s in specs}) == 3 * 2 * (4 + 1), (
        "points: tasks x label fractions x (encoders + scratch)"
    )
    steps = config["pretrain"]["min_epoch_events"]
    pool = sum(n for s in config["samples"].values() if s.get("pool") for n in s["generate"].values())
    assert steps >= 0.85 * pool, "every share takes about the full pool's steps (about 87 % of it pass the selection)"


def test_the_multiclass_config_adds_two_many_class_tasks_the_pool_never_saw():
    """config/multiclass.yaml over the study and the pool-size scan: two analyses of five and six classes whose
    classes the pretraining events hold none of (but tt̄ in ttx), each trained from scratch, fine-tuned and probed
    for both network sizes at three label counts, on the study's one full-pool process encoder."""
    from colliderfm.data.tasks import from_config as tasks_from_config

    config = _study_with("pool_scaling.yaml", "multiclass.yaml")
    seen = cfg.pretraining_processes(config)
    tasks = {name: t for name, t in tasks_from_config(config).items() if name in ("ttx", "vv")}
    classes = {name: [cfg.sample_processes(config, members) for members in t.members] for name, t in tasks.items()}
    assert [len(c) for c in classes.values()] == [6, 5]
    assert [c & seen for c in classes["ttx"]] == [{"ttbar"}] + [set()] * 5
    assert all(not c & seen for c in classes["vv"])
    assert {t: p for t, p in cfg.signal_processes(config).items() if t in tasks} == {"ttx": ["tth"], "vv": ["zh"]}
    assert {p for v, p in cfg.encoders(config)} == {"process"}
    specs = cfg.efficiency_specs(config)
    assert len({s.directory for s in specs}) == 2 * 2 * 3 * 3, "points: tasks x variants x label fractions x starts"
