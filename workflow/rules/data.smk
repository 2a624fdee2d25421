rule prepare_data:
    localrule: True
    output:
        data="results/data/{data_key}/data.pt",
        manifest="results/data/{data_key}/manifest.json",
    params:
        settings=data_settings_for,
    log:
        "logs/data/{data_key}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        ENV
    script:
        "../scripts/prepare_data.py"
