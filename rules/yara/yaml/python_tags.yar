// PyYAML python/* tags: yaml.load with an unsafe loader constructs arbitrary Python objects (CVE-2017-18342).

rule MAL_YAML_Python_Object_Apply
{
    meta:
        id = "MSY-YML-001"
        description = "YAML python/object/apply or python/object/new tag: calls a Python callable when loaded unsafely"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://nvd.nist.gov/vuln/detail/CVE-2017-18342"
        severity = "critical"
        score = 90
        category = "yaml"
        version = 1
        scope = "config,metadata,member,small-file"
    strings:
        $short = /!!python\/object\/(apply|new):/
        $long = /tag:yaml\.org,2002:python\/object\/(apply|new):/
    condition:
        any of them
}

rule SUSP_YAML_Python_Name_Or_Module
{
    meta:
        id = "MSY-YML-002"
        description = "YAML python/name or python/module tag: imports a module or resolves a callable by name"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://nvd.nist.gov/vuln/detail/CVE-2017-18342"
        severity = "medium"
        score = 50
        category = "yaml"
        version = 1
        scope = "config,metadata,member,small-file"
    strings:
        $short = /!!python\/(name|module):/
        $long = /tag:yaml\.org,2002:python\/(name|module):/
    condition:
        any of them
}

rule SUSP_YAML_Python_Object_Instance
{
    meta:
        id = "MSY-YML-003"
        description = "YAML python/object tag: builds an instance of an arbitrary class (state set without __init__)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://nvd.nist.gov/vuln/detail/CVE-2017-18342"
        severity = "medium"
        score = 50
        category = "yaml"
        version = 1
        scope = "config,metadata,member,small-file"
    strings:
        $short = /!!python\/object:[A-Za-z_]/
        $long = /tag:yaml\.org,2002:python\/object:[A-Za-z_]/
    condition:
        any of them
}
