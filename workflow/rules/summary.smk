# Tables across all models: the summary, and the anomaly search's mediator-mass scan.


rule summary:
    input:
        metrics=metrics_files(),
        reference=L.anomaly_reference(),
        gains="results/data_efficiency_gains.csv",
    output:
        csv="results/summary.csv",
        md=report(
            "results/summary.md", category="Summary", caption="../report/summary.rst"
        ),
        scan="results/anomaly_scan.csv",
    log:
        L.log("summary"),
    conda:
        "../../envs/colliderfm.yaml"
    script:
        "../../scripts/summary.py"
