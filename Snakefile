# colliderfm: simulated collider events -> universal transformer -> the figures of the study.
#
#   simulate -> ingest -> standardize -> pretrain -> finetune / scratch / bdt -> evaluate -> plots, summary
#                                            \-> efficiency (data-efficiency grid) -> data_efficiency
#
# Default run: `snakemake` (profiles/default); your own Delphes files: see README.md, "Your own files".


from snakemake.utils import min_version

min_version("9.0")


# A config given with --configfile is the whole config: the default is read only when none is
# given (Snakemake would otherwise merge the user's file into it); the schema fills left-out keys.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/standardize.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/efficiency.smk"
include: "workflow/rules/bdt.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/summary.smk"


rule all:
    default_target: True
    input:
        "results/summary.csv",
        "results/summary.md",
        "results/data_efficiency.csv",
        "results/pretraining.csv",
        all_figures(),
