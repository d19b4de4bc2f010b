// Server-side template injection in chat templates (tokenizer_config.json chat_template, GGUF
// tokenizer.chat_template). Real chat templates loop over messages and print strings; they never walk
// Python object internals. CVE-2024-34359: llama-cpp-python rendered GGUF templates unsandboxed.

rule EXPL_Jinja_SSTI_Dunder_Traversal
{
    meta:
        id = "MSY-TPL-001"
        description = "Jinja expression reaches Python internals (__globals__, __subclasses__, __builtins__, __mro__, __import__)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://github.com/abetlen/llama-cpp-python/security/advisories/GHSA-56xg-wfcc-g829"
        severity = "critical"
        score = 90
        category = "template"
        version = 1
        scope = "template,metadata,config,header,member,small-file"
    strings:
        $dunder = /\{[{%][^}]{0,300}__(globals|subclasses|builtins|mro|bases|base|import|getattribute|code|closure|func_globals)__/
    condition:
        $dunder
}

rule EXPL_Jinja_SSTI_Known_Gadgets
{
    meta:
        id = "MSY-TPL-002"
        description = "Known Jinja sandbox-escape gadgets (cycler/joiner/namespace.__init__.__globals__, lipsum.__globals__)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://github.com/abetlen/llama-cpp-python/security/advisories/GHSA-56xg-wfcc-g829"
        severity = "critical"
        score = 95
        category = "template"
        version = 1
        scope = "template,metadata,config,header,member,small-file"
    strings:
        $cycler = /(cycler|joiner|namespace)\s*\.\s*__init__\s*\.\s*__globals__/
        $lipsum = /(lipsum|url_for|get_flashed_messages|range)\s*\.\s*__globals__/
        $context = "_TemplateReference__context"
    condition:
        any of them
}

rule EXPL_Jinja_SSTI_Obfuscated_Dunder
{
    meta:
        id = "MSY-TPL-003"
        description = "Obfuscated dunder access in a template (|attr('\\x5f\\x5f...'), \\u005f escapes)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://jinja.palletsprojects.com/en/stable/sandbox/"
        severity = "high"
        score = 85
        category = "template"
        version = 1
        scope = "template,metadata,config,header,member,small-file"
    strings:
        $attr = /\|\s*attr\s*\(\s*["'](\\x5f|\\u005f|\\\\x5f|\\\\u005f|_)(\\x5f|\\u005f|\\\\x5f|\\\\u005f|_)/
        $escaped = /(\\\\?x5f\\\\?x5f|\\\\?u005f\\\\?u005f)(globals|class|builtins|subclasses|import|init|mro|base)/
    condition:
        any of them
}

rule EXPL_Jinja_Set_With_Dunder
{
    meta:
        id = "MSY-TPL-004"
        description = "Jinja {% set %} statement that assigns a dunder attribute (staging a sandbox escape)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://github.com/abetlen/llama-cpp-python/security/advisories/GHSA-56xg-wfcc-g829"
        severity = "high"
        score = 80
        category = "template"
        version = 1
        scope = "template,metadata,config,header,member,small-file"
    strings:
        $set = /\{%-?\s*set\s+[\w, ]{1,60}=[^%]{0,200}__[a-z]{2,20}__/
    condition:
        $set
}

rule EXPL_Jinja_SSTI_Command_Execution
{
    meta:
        id = "MSY-TPL-005"
        description = "Template expression calls OS or import machinery (popen, os.system, subprocess, import_module, eval/exec)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://github.com/abetlen/llama-cpp-python/security/advisories/GHSA-56xg-wfcc-g829"
        severity = "critical"
        score = 95
        category = "template"
        version = 1
        scope = "template,metadata,config,header,member,small-file"
    strings:
        $call = /\{[{%][^}]{0,400}(\.popen\(|os\.system\(|subprocess\.|import_module\(|__import__\(|[^\w]eval\(|[^\w]exec\()/
    condition:
        $call
}
