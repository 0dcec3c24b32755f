# One table across all models.


rule summary:
    input:
        metrics_files(),
    output:
        csv="results/summary.csv",
        md=report(
            "results/summary.md", category="Summary", caption="../report/summary.rst"
        ),
    log:
        "results/logs/summary.log",
    conda:
        "../../envs/colliderfm.yaml"
    script:
        "../../scripts/summary.py"
