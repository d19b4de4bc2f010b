// Pickle opcode patterns of dangerous imports, as they appear in protocols 0-5:
//   GLOBAL / INST:  c<module>\n<name>\n   i<module>\n<name>\n          (protocols 0-3)
//   STACK_GLOBAL:   <str module> [memo] <str name> [memo] \x93       (protocols 4-5, hand-made 2-3)
//                   where <str> is SHORT_BINUNICODE \x8c<len>, BINUNICODE X<len:4>, UNICODE V...\n
//                   and [memo] is MEMOIZE \x94, BINPUT q<n>, LONG_BINPUT r<n:4> or PUT p<n>\n.
// A benign model pickle imports torch/numpy/collections rebuild functions, never these.

rule MAL_Pickle_OS_Command_Execution
{
    meta:
        id = "MSY-PKL-001"
        description = "Pickle imports os/posix/nt command execution (system, popen, exec*, spawn*)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://jfrog.com/blog/data-scientists-targeted-by-malicious-hugging-face-ml-models-with-silent-backdoor/"
        severity = "critical"
        score = 95
        category = "pickle"
        version = 1
        scope = "pickle,member,small-file,tensor-data"
    strings:
        $global = /[ci](os|posix|nt)\n(system|popen|exec[lv]p?e?|spawn[lv]p?e?|posix_spawnp?|startfile)\n/
        $stack = /(\x8c.|X.\x00\x00\x00|V)(os|posix|nt)\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)(system|popen|exec[lv]p?e?|spawn[lv]p?e?|posix_spawnp?|startfile)\n?(\x94|q.|r.{4}|p\d{1,6}\n)?\x93/s
    condition:
        any of them
}

rule MAL_Pickle_Builtins_Code_Execution
{
    meta:
        id = "MSY-PKL-002"
        description = "Pickle imports builtins eval/exec/compile/__import__/open (arbitrary Python on load)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://blog.trailofbits.com/2021/03/15/never-a-dill-moment-exploiting-machine-learning-pickle-files/"
        severity = "critical"
        score = 95
        category = "pickle"
        version = 1
        scope = "pickle,member,small-file,tensor-data"
    strings:
        $global = /[ci](builtins|__builtin__)\n(eval|exec|execfile|compile|__import__|open|breakpoint)\n/
        $stack = /(\x8c.|X.\x00\x00\x00|V)(builtins|__builtin__)\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)(eval|exec|execfile|compile|__import__|open|breakpoint)\n?(\x94|q.|r.{4}|p\d{1,6}\n)?\x93/s
    condition:
        any of them
}

rule MAL_Pickle_Subprocess_Execution
{
    meta:
        id = "MSY-PKL-003"
        description = "Pickle imports subprocess (Popen, run, call, check_output, getoutput)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://jfrog.com/blog/data-scientists-targeted-by-malicious-hugging-face-ml-models-with-silent-backdoor/"
        severity = "critical"
        score = 95
        category = "pickle"
        version = 1
        scope = "pickle,member,small-file,tensor-data"
    strings:
        $global = /[ci]subprocess\n(Popen|run|call|check_call|check_output|getoutput|getstatusoutput)\n/
        $stack = /(\x8c.|X.\x00\x00\x00|V)subprocess\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)(Popen|run|call|check_call|check_output|getoutput|getstatusoutput)\n?(\x94|q.|r.{4}|p\d{1,6}\n)?\x93/s
    condition:
        any of them
}

rule MAL_Pickle_Runpy_Execution
{
    meta:
        id = "MSY-PKL-004"
        description = "Pickle imports runpy (_run_code, run_path, run_module): runs Python code on load"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://jfrog.com/blog/data-scientists-targeted-by-malicious-hugging-face-ml-models-with-silent-backdoor/"
        severity = "critical"
        score = 92
        category = "pickle"
        version = 1
        scope = "pickle,member,small-file"
    strings:
        $global = /[ci]runpy\n(_run_code|run_path|run_module|_run_module_code|_run_module_as_main)\n/
        $stack = /(\x8c.|X.\x00\x00\x00|V)runpy\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)(_run_code|run_path|run_module|_run_module_code|_run_module_as_main)\n?(\x94|q.|r.{4}|p\d{1,6}\n)?\x93/s
    condition:
        any of them
}

rule MAL_Pickle_Socket_Or_Pty
{
    meta:
        id = "MSY-PKL-005"
        description = "Pickle imports socket or pty (network connection or terminal spawn on load)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://jfrog.com/blog/data-scientists-targeted-by-malicious-hugging-face-ml-models-with-silent-backdoor/"
        severity = "critical"
        score = 90
        category = "pickle"
        version = 1
        scope = "pickle,member,small-file"
    strings:
        $global = /[ci](socket\n(socket|create_connection|fromfd|socketpair)|pty\n(spawn|fork|openpty))\n/
        $stack = /(\x8c.|X.\x00\x00\x00|V)(socket\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)(socket|create_connection|fromfd|socketpair)|pty\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)(spawn|fork|openpty))\n?(\x94|q.|r.{4}|p\d{1,6}\n)?\x93/s
    condition:
        any of them
}

rule SUSP_Pickle_Webbrowser_Open
{
    meta:
        id = "MSY-PKL-006"
        description = "Pickle imports webbrowser.open*: opens a URL (phishing, drive-by download) on load"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://jfrog.com/blog/data-scientists-targeted-by-malicious-hugging-face-ml-models-with-silent-backdoor/"
        severity = "high"
        score = 75
        category = "pickle"
        version = 1
        scope = "pickle,member,small-file"
    strings:
        $global = /[ci]webbrowser\n(open|open_new|open_new_tab|get)\n/
        $stack = /(\x8c.|X.\x00\x00\x00|V)webbrowser\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)(open|open_new|open_new_tab|get)\n?(\x94|q.|r.{4}|p\d{1,6}\n)?\x93/s
    condition:
        any of them
}

rule SUSP_Pickle_Nested_Torch_Load_From_Bytes
{
    meta:
        id = "MSY-PKL-007"
        description = "Pickle calls torch.storage._load_from_bytes: a nested torch.load of embedded bytes (a second pickle to inspect)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://blog.trailofbits.com/2024/06/11/exploiting-ml-models-with-pickle-file-attacks-part-1/"
        severity = "medium"
        score = 50
        category = "pickle"
        version = 1
        scope = "pickle,member,small-file"
    strings:
        $global = "ctorch.storage\n_load_from_bytes\n"
        $stack = /(\x8c.|X.\x00\x00\x00|V)torch\.storage\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)_load_from_bytes\n?(\x94|q.|r.{4}|p\d{1,6}\n)?\x93/s
    condition:
        any of them
}

rule MAL_Pickle_Marshal_Code_Object
{
    meta:
        id = "MSY-PKL-008"
        description = "Pickle imports marshal.loads or types.FunctionType/CodeType: builds functions from raw bytecode"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://blog.trailofbits.com/2024/06/11/exploiting-ml-models-with-pickle-file-attacks-part-1/"
        severity = "high"
        score = 85
        category = "pickle"
        version = 1
        scope = "pickle,member,small-file"
    strings:
        $global = /[ci](marshal\nloads|types\n(FunctionType|CodeType|LambdaType))\n/
        $stack = /(\x8c.|X.\x00\x00\x00|V)(marshal\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)loads|types\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)(FunctionType|CodeType|LambdaType))\n?(\x94|q.|r.{4}|p\d{1,6}\n)?\x93/s
    condition:
        any of them
}

rule SUSP_Pickle_Dynamic_Import
{
    meta:
        id = "MSY-PKL-009"
        description = "Pickle resolves arbitrary callables by name (importlib.import_module, pkgutil.resolve_name): denylist bypass"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://blog.trailofbits.com/2024/06/11/exploiting-ml-models-with-pickle-file-attacks-part-1/"
        severity = "high"
        score = 85
        category = "pickle"
        version = 1
        scope = "pickle,member,small-file"
    strings:
        $global = /[ci](importlib\nimport_module|pkgutil\n(resolve_name|get_importer)|operator\nmethodcaller)\n/
        $stack = /(\x8c.|X.\x00\x00\x00|V)(importlib\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)import_module|pkgutil\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)(resolve_name|get_importer)|operator\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)methodcaller)\n?(\x94|q.|r.{4}|p\d{1,6}\n)?\x93/s
    condition:
        any of them
}

rule MAL_Pickle_Network_Fetch
{
    meta:
        id = "MSY-PKL-010"
        description = "Pickle imports a network client call (urllib urlopen/urlretrieve, requests get/post, http.client)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://blog.trailofbits.com/2024/06/11/exploiting-ml-models-with-pickle-file-attacks-part-1/"
        severity = "high"
        score = 80
        category = "pickle"
        version = 1
        scope = "pickle,member,small-file"
    strings:
        $global = /[ci](urllib\.request\n(urlopen|urlretrieve)|urllib2\nurlopen|requests(\.api)?\n(get|post|put|request)|http\.client\nHTTPS?Connection|ftplib\nFTP|smtplib\nSMTP)\n/
        $stack = /(\x8c.|X.\x00\x00\x00|V)(urllib\.request\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)(urlopen|urlretrieve)|requests(\.api)?\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)(get|post|put|request)|http\.client\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)HTTPS?Connection)\n?(\x94|q.|r.{4}|p\d{1,6}\n)?\x93/s
    condition:
        any of them
}

rule MAL_Pickle_Ctypes_Native_Code
{
    meta:
        id = "MSY-PKL-011"
        description = "Pickle imports ctypes (CDLL, cdll, WinDLL, memmove): loads native libraries or pokes memory"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://blog.trailofbits.com/2021/03/15/never-a-dill-moment-exploiting-machine-learning-pickle-files/"
        severity = "critical"
        score = 90
        category = "pickle"
        version = 1
        scope = "pickle,member,small-file"
    strings:
        $global = /[ci]ctypes\n(CDLL|cdll|PyDLL|WinDLL|windll|LibraryLoader|memmove|string_at|CFUNCTYPE)\n/
        $stack = /(\x8c.|X.\x00\x00\x00|V)ctypes\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)(CDLL|cdll|PyDLL|WinDLL|windll|LibraryLoader|memmove|string_at|CFUNCTYPE)\n?(\x94|q.|r.{4}|p\d{1,6}\n)?\x93/s
    condition:
        any of them
}

rule SUSP_Pickle_Getattr_Dangerous_Name
{
    meta:
        id = "MSY-PKL-012"
        description = "Pickle imports builtins.getattr and pushes a dangerous attribute name right after (indirect eval/system)"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://blog.trailofbits.com/2024/06/11/exploiting-ml-models-with-pickle-file-attacks-part-1/"
        severity = "high"
        score = 80
        category = "pickle"
        version = 1
        scope = "pickle,member,small-file"
    strings:
        $global = /[ci](builtins|__builtin__)\ngetattr\n.{0,64}(\x8c.|X.\x00\x00\x00|V|U.)(eval|exec|system|popen|__import__|__builtins__|__globals__|__subclasses__)[\x94qrp\n]/s
        $stack = /(\x8c.|X.\x00\x00\x00|V)(builtins|__builtin__)\n?(\x94|q.|r.{4}|p\d{1,6}\n)?(\x8c.|X.\x00\x00\x00|V)getattr\n?(\x94|q.|r.{4}|p\d{1,6}\n)?\x93.{0,64}(\x8c.|X.\x00\x00\x00|V|U.)(eval|exec|system|popen|__import__|__builtins__|__globals__|__subclasses__)[\x94qrp\n]/s
    condition:
        any of them
}
