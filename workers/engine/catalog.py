"""The rule catalog: every finding id modelscreen can emit, declared once (bandit-style checks as data).

Each `Rule` names the id an analyst sees as `rule.id` in Kibana (`rule_id` in a report), its default
severity, a short title and a paragraph saying what fired and what to do. `ScanContext.add` refuses an
id (or a severity) that is not declared here, so a new check starts by adding its rule.

Two namespaces are not listed rule by rule:
- YARA rules (`rules/yara/**/*.yar`): their findings carry the rule's own metadata id (`MSY-<CAT>-NNN`,
  validated by `schemas.rules.RuleMeta` when the library loads) and severity. Those ids are accepted as
  declared by the loaded ruleset; `yara_rules()` lists the bundled library for the docs and the CLI.
- Provenance findings (scope "provenance") are built by the provenance checks, not through a scan
  context; their severity is the policy's (`schemas.policy.DEFAULT_SEVERITIES` is the default, which
  this catalog repeats and a test keeps equal).

Add a rule: declare it below (id, default severity, title, doc, any other severity the code emits in
`also`), emit it with `ctx.add("ID", ...)`, and add a test that makes it fire; `modelscreen rules list
--builtin --format markdown` regenerates the table in docs/formats.md.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from modelscreen.schemas import Severity

# The id pattern of YARA rule metadata (kept equal to schemas.rules.RuleMeta.id by a test).
YARA_ID = re.compile(r"^MSY-[A-Z]{2,5}-\d{3}$")

SCOPES = ("engine", "pipeline", "provenance", "sinks")


class UndeclaredRule(LookupError):
    """A finding id (or a severity for it) that the catalog does not declare."""


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity  # the default; the one emitted when the caller gives none
    title: str  # generic; call sites usually give a more specific one
    doc: str  # one paragraph for an analyst: what it means, why it matters, what to do
    area: str  # the format or stage the rule belongs to (the docs group by it)
    scope: str = "engine"  # engine | pipeline | provenance | sinks
    also: frozenset[Severity] = field(default_factory=frozenset)  # other severities the code emits
    policy: bool = False  # severity set by the provenance policy (any severity may be emitted)

    @property
    def not_analysed(self) -> bool:
        """The finding says part of the artifact was not analysed: the verdict is `error` (verdict.py)."""
        return self.id in NOT_ANALYSED

    @property
    def severities(self) -> frozenset[Severity]:
        return frozenset(Severity) if self.policy else frozenset({self.severity}) | self.also

    def to_dict(self) -> dict:
        return {"id": self.id, "severity": self.severity.value, "also": sorted(s.value for s in self.also),
                "policy_severity": self.policy, "not_analysed": self.not_analysed, "title": self.title,
                "area": self.area, "scope": self.scope, "doc": self.doc}


def _build(rules: Iterable[Rule]) -> Mapping[str, Rule]:
    out: dict[str, Rule] = {}
    for r in rules:
        if r.id in out:
            raise ValueError(f"rule {r.id} is declared twice")
        if r.scope not in SCOPES:
            raise ValueError(f"rule {r.id}: unknown scope {r.scope!r}")
        out[r.id] = r
    return MappingProxyType(out)  # in declaration order: the docs group by area in this order


S = Severity


def _area(area: str, *rows: tuple, scope: str = "engine", policy: bool = False) -> list[Rule]:
    """Rows of (id, severity, title, doc) or (id, severity, title, doc, {other severities})."""
    return [Rule(id=r[0], severity=r[1], title=r[2], doc=r[3], area=area, scope=scope,
                 also=frozenset(r[4]) if len(r) > 4 else frozenset(), policy=policy) for r in rows]


_RULES: list[Rule] = [
    *_area(
        "Scan engine",
        ("ENGINE-ERROR", S.info, "Analysis failed",
         "The analyzer for this artifact crashed or refused it, so its content was not (fully) analysed; the "
         "detail holds the error. The artifact's verdict is `error`, never `clean`: treat it as unscanned, "
         "and report the detail if the file is a legitimate model (it points to a gap in the engine)."),
        ("FINDINGS-TRUNCATED", S.info, "More findings not listed",
         "The artifact produced more findings than `Limits.max_findings`; the ones above were kept (the "
         "verdict already reflects the worst of them) and the rest were counted, not listed. Usually a "
         "deliberately noisy or very damaged file: review the listed findings first."),
        ("FORMAT-EXTENSION-MISMATCH", S.low, "Content does not match the file name",
         "The bytes are of a different format than the file name's extension says (for example a pickle "
         "named `.safetensors`). A loader that trusts the content, or a person who trusts the name, is "
         "misled; medium when the content can run code (pickle, PyTorch, joblib, code) behind a name of a "
         "code-free format, and when a model or archive name (`.pt`, `.zip`, ...) holds text or undetermined "
         "bytes: a broken, swapped or placeholder file.", {S.medium}),
        ("LIMIT-EXCEEDED", S.medium, "Scan limit exceeded",
         "A bound on bytes, entries, header size or time was reached and the rest of the artifact was not "
         "analysed. Fail closed: what was not looked at could hold anything. Inspect the artifact by hand, "
         "or rescan with a deliberately raised limit if the size is expected."),
        ("MODEL-FILE-EMPTY", S.medium, "Empty file with a model file name",
         "The file has no bytes although its name says it is a model (`.pt`, `.safetensors`, `.onnx`, ...): a "
         "failed or truncated upload, or a placeholder where a model was expected. Nothing loads from it; find "
         "out why the real file is missing."),
        ("LIMIT-NESTING", S.medium, "Nesting too deep",
         "An archive member, decompressed payload or nested pickle sits deeper than `Limits.max_depth` and "
         "was not analysed. Legitimate models rarely nest more than two or three levels; deep nesting is a "
         "way to hide a payload from scanners with lower limits."),
        ("ENGINE-CRASH", S.medium, "The scanner process crashed on this artifact",
         "The sandboxed child scanning this artifact died (a signal such as SIGSEGV or SIGABRT, or it was "
         "killed from outside, e.g. by the kernel's out-of-memory killer) before it returned a report, so "
         "nothing of the artifact was analysed. Parsers that crash on crafted input are a classic exploit "
         "route: treat the file as hostile until it is inspected in an isolated environment. Other artifacts "
         "are unaffected; the pipeline retries the event a bounded number of times, then dead-letters it."),
        ("LIMIT-MEMORY", S.medium, "Scanning this artifact exceeded the memory limit",
         "The sandboxed child scanning this artifact ran out of its address-space limit "
         "(`SandboxLimits.memory_bytes`, 2 GiB by default) and was stopped, so the artifact was not "
         "analysed. A small file that needs gigabytes to parse is a memory bomb; a genuinely huge model may "
         "need the limit raised deliberately."),
        ("LIMIT-TIME", S.medium, "Scanning this artifact exceeded the time limit",
         "The sandboxed child scanning this artifact used up its CPU-time limit or overran the wall-clock "
         "budget (the engine's `Limits.max_seconds` plus a grace period) and was killed by the parent, "
         "typically a hang inside C code that the engine's own time checks cannot interrupt. Nothing was "
         "analysed: inspect the file by hand; it may be built to stall scanners."),
    ),
    *_area(
        "YARA",
        ("YARA-RULES-UNAVAILABLE", S.medium, "YARA rules were not applied",
         "The YARA rule library could not be loaded (engine missing, rules directory unreadable or a rule "
         "invalid), so no payload rule ran and only the format analyzers looked at the artifact: the verdict is "
         "`error`, never clean. The detail gives the reason; fix the deployment, then rescan. The YARA rules' own "
         "findings use their metadata ids (`MSY-<CAT>-NNN`, listed below)."),
        ("YARA-ERROR", S.info, "YARA scan failed",
         "The YARA pass over this artifact (or over a GGUF chat template) raised an error. The format "
         "analysis stands; only the byte-pattern rules are missing for this artifact. The detail names the "
         "error; rescan once the engine is fixed."),
        ("YARA-COVERAGE-PARTIAL", S.info, "YARA scan did not cover the whole artifact",
         "The time budget ran out before the YARA windows reached the end of a large artifact; the detail "
         "lists the byte ranges covered (also in the report's `yara_coverage` note). The format analysis "
         "is complete; only byte patterns in the uncovered tensor data were not looked for."),
    ),
    *_area(
        "Pickle",
        ("PICKLE-DANGEROUS-CALL", S.critical, "Pickle calls a dangerous callable",
         "The pickle calls (REDUCE, BUILD, INST/OBJ, NEWOBJ) a function that runs commands, evaluates code, "
         "opens files or the network, or hands such a function to another call. Unpickling the file runs "
         "it: this is the malicious-model pattern. Do not load the file; the evidence shows the call as "
         "the loader would make it."),
        ("PICKLE-DANGEROUS-IMPORT", S.high, "Pickle imports a dangerous global",
         "The pickle imports (GLOBAL/STACK_GLOBAL) a dangerous module attribute without calling it "
         "directly. Importing it has no business in a model file and it can be called indirectly or "
         "inspected by later opcodes; treat it as an attempt at code execution."),
        ("PICKLE-UNKNOWN-CALLABLE", S.medium, "Pickle calls an unknown callable",
         "The pickle calls a global that is on neither the known-safe nor the dangerous list (often a class "
         "of the training code). The loader imports and calls it, so review the named module before "
         "loading; benign research checkpoints trigger this, malicious ones hide behind it."),
        ("PICKLE-SCRIPT-CLASS", S.low, "Pickle instantiates a class of the loading script",
         "The pickle names `__main__.<Class>`: a class defined in the script that saved the file (how "
         "`torch.save(model)` and tutorials save custom models). Loading needs a script that defines the same "
         "class, and runs that class's code; reaching other names through `__main__` (`__main__.os.system`) is "
         "reported as a dangerous call instead."),
        ("PICKLE-CLOUDPICKLE-FUNCTION", S.medium, "Pickle rebuilds a function from code",
         "A function or class serialised by cloudpickle (MLflow pyfunc models, Ray, Dask): loading rebuilds "
         "Python code that runs when the model is used. The code object's names were read (never built) and "
         "name no process, file, network or evaluation call; review the function before loading."),
        ("PICKLE-FUNCTION-CODE-SINK", S.critical, "Pickled function code calls a dangerous function",
         "A code object that cloudpickle rebuilds at load time names a call that runs processes, evaluates "
         "code, imports modules, writes files or opens connections (read from its names and attribute "
         "pairs, judged with the alias table and sink map). The function does it when called: do not load."),
        ("PICKLE-UNKNOWN-IMPORT", S.info, "Pickle imports unlisted globals",
         "The pickle imports globals that are not on the known-safe list but never calls them. Listed for "
         "context (which libraries the model expects); on its own no code runs from them."),
        ("PICKLE-UNRESOLVED-GLOBAL", S.high, "Pickle imports a global whose name is computed",
         "A STACK_GLOBAL's module or name is not a literal string but the result of a call or an untracked "
         "memo entry. Real pickles always name their globals literally; a computed name hides what is "
         "imported from static scanners."),
        ("PICKLE-GLOBAL-MUTATION", S.high, "Pickle modifies an imported global in place",
         "BUILD, SETITEM(S) or APPEND(S) is applied to an imported module, class or function itself rather "
         "than to a new object: the loader monkey-patches the interpreter (sys.modules, os.environ, a "
         "library function). Model files never do this."),
        ("PICKLE-EXTENSION-CODE", S.high, "Pickle uses extension codes",
         "EXT1/EXT2/EXT4 opcodes name a global through copyreg's extension registry, empty in a stock "
         "interpreter but resolving to any callable where an extension is registered. Model files have no "
         "use for them; the global they load cannot be seen in the file."),
        ("PICKLE-FRAME-MISMATCH", S.high, "Pickle frames do not match its opcodes",
         "Protocol-4 FRAME lengths do not match the opcodes inside them. Pickle writers never produce this; "
         "loaders and scanners that honour frames then disagree with CPython's C loader (which reads across "
         "frames), a known way to hide calls from scanners."),
        ("PICKLE-PARSER-DIFFERENTIAL", S.high, "Argument only CPython's C loader accepts",
         "An opcode argument is written in a form pickle writers never produce and pickletools-based "
         "scanners reject, while the C loader accepts it and goes on. Scanners that stop there miss what "
         "follows: a known evasion technique."),
        ("PICKLE-MALFORMED", S.medium, "Broken pickle stream",
         "The pickle is truncated or invalid at the given offset. The loader runs everything before that "
         "point, so calls found before it are reported as usual; what follows was not analysed as pickle. "
         "A damaged upload or a stream crafted to confuse scanners."),
        ("PICKLE-INVALID-STRING", S.medium, "Pickle string argument is not valid UTF-8",
         "A unicode argument (BINUNICODE, SHORT_BINUNICODE, BINUNICODE8) is not valid UTF-8: pickle.load fails "
         "there, after running every opcode before it, so the stream is broken where this analyzer kept "
         "reading. Writers never produce it; a damaged file or one crafted to make tools disagree."),
        ("PICKLE-TRAILING-DATA", S.low, "Data after the end of the pickle",
         "Bytes follow the STOP opcode. pickle.load ignores them, but they can carry a payload for another "
         "loader (polyglot files); the evidence shows their start."),
        ("PICKLE-MULTIPLE-STREAMS", S.info, "Several pickles in one file",
         "Another pickle starts after the first one ends. Loaders that call pickle.load repeatedly (legacy "
         "PyTorch, some joblib files) run them all, so each stream is analysed; context for the other "
         "findings."),
        ("PICKLE-FICKLING-OPINION", S.info, "Second opinion: fickling flags this pickle",
         "fickling, a second opinion that is known to over-report, rates a pickle as unsafe that this "
         "analyzer found nothing worse than low in. Low when fickling calls it (overtly) malicious, info "
         "otherwise; read its text and the pickle's imports before dismissing it.", {S.low}),
    ),
    *_area(
        "PyTorch",
        ("TORCH-LEGACY-MALFORMED", S.medium, "Legacy PyTorch file is malformed",
         "A legacy (pre-zip) torch.save file lacks its magic number or one of its header pickles is broken. "
         "torch would fail or behave unexpectedly; the rest was scanned as pickle, so other findings still "
         "apply."),
        ("TORCH-LEGACY-UNEXPECTED-OPCODES", S.high, "Legacy PyTorch header pickle does more than build data",
         "torch unpickles the magic-number, protocol and sys_info pickles of a legacy file with the full "
         "unpickler; in a genuine file they hold plain values. Imports or calls there run code before the "
         "model is even read."),
        ("TORCHSCRIPT-CODE", S.low, "TorchScript archive with code",
         "The PyTorch zip holds TorchScript `code/` files (every torch.jit.save export does). torch.jit.load "
         "compiles and runs them; the code members are analysed on their own and only operations that touch "
         "files, processes or the network are findings there (the location names the first file)."),
    ),
    *_area(
        "NumPy",
        ("NUMPY-HEADER-INVALID", S.medium, "Invalid .npy header",
         "The .npy preamble or header is truncated, of an unknown version, too long, not a Python literal, "
         "has the wrong keys, an invalid shape or an unrecognised dtype. np.load refuses the file; another "
         "parser might read it differently. The detail says which check failed."),
        ("NUMPY-HEADER-LARGE", S.low, "Unusually large .npy header",
         "The header is longer than np.load accepts by default. Real arrays have headers of a few hundred "
         "bytes; a huge one is padding that can hide data or exhaust naive parsers."),
        ("NUMPY-OBJECT-DTYPE", S.medium, "Object array: the body is a pickle",
         "The array has an object dtype, so its body is a pickle that np.load(allow_pickle=True) unpickles. "
         "The pickle was scanned (see the pickle findings); avoid allow_pickle=True for such files."),
        ("NUMPY-SIZE-MISMATCH", S.low, "The .npy body is shorter than its shape says",
         "The array data is shorter than shape times item size: a truncated or crafted file that loaders "
         "refuse or read past."),
        ("NUMPY-TRAILING-DATA", S.medium, "Bytes after the array data",
         "Bytes follow the array data; np.load ignores them, so hidden data travels with the array. They "
         "were scanned as a member artifact."),
    ),
    *_area(
        "Safetensors",
        ("SAFETENSORS-TRUNCATED", S.medium, "File shorter than the 8-byte header length",
         "The file cannot even hold the little-endian header length that starts every safetensors file: a "
         "truncated upload or a file misnamed `.safetensors`."),
        ("SAFETENSORS-HEADER-TOO-LARGE", S.medium, "Header length above the limit",
         "The declared JSON header is larger than the engine's header limit (the reference loader caps it "
         "at 100 MB). Such a header exhausts memory in parsers that trust the length; it was not parsed."),
        ("SAFETENSORS-HEADER-LENGTH-INVALID", S.medium, "Header length runs past the end of the file",
         "The declared header length is larger than the file: the file is truncated or the length was "
         "forged to make parsers read out of bounds."),
        ("SAFETENSORS-HEADER-INVALID", S.medium, "Header is not valid JSON",
         "The header is not UTF-8 or not valid JSON (NaN/Infinity constants included). The reference "
         "loader refuses it; lenient parsers may read something else."),
        ("SAFETENSORS-HEADER-NOT-OBJECT", S.medium, "Header is not a JSON object",
         "The header parses but is not a JSON object (or is empty/whitespace), so it declares no tensors "
         "the way loaders expect."),
        ("SAFETENSORS-HEADER-LEADING-WHITESPACE", S.low, "Header starts with whitespace",
         "The JSON header starts with whitespace; the reference writer never emits this and the reference "
         "loader refuses it, so tools disagree on whether the file is valid."),
        ("SAFETENSORS-HEADER-PADDING", S.low, "Header padded with whitespace other than spaces",
         "The header is padded to alignment with characters other than spaces (tabs, newlines, NULs). "
         "Writers pad with spaces; other padding can hide data between the header and the tensors."),
        ("SAFETENSORS-DUPLICATE-NAME", S.high, "Tensor name appears more than once in the header",
         "A tensor name (or a `__metadata__` key) is defined more than once. The reference loader keeps the "
         "last definition, other parsers the first, so different tools load different tensors: high for "
         "tensors, medium for metadata keys.", {S.medium}),
        ("SAFETENSORS-METADATA-INVALID", S.medium, "__metadata__ is not a string-to-string map",
         "The `__metadata__` entry must map strings to strings; the reference loader refuses anything "
         "else, and nested values are a place to smuggle data."),
        ("SAFETENSORS-TENSOR-INVALID", S.medium, "Invalid tensor entry",
         "A tensor entry is not an object, lacks dtype/shape/data_offsets, or repeats a key. Loaders "
         "refuse or misread it."),
        ("SAFETENSORS-TENSOR-EXTRA-KEYS", S.low, "Tensor entry has unknown keys",
         "A tensor entry carries keys besides dtype, shape and data_offsets. They are ignored by loaders "
         "and can carry hidden data."),
        ("SAFETENSORS-BAD-DTYPE", S.medium, "Unknown tensor dtype",
         "A tensor declares a dtype the format does not define; loaders refuse the file or guess a size."),
        ("SAFETENSORS-BAD-SHAPE", S.medium, "Invalid tensor shape",
         "A shape is not a list of non-negative integers; loaders refuse or miscompute the tensor size."),
        ("SAFETENSORS-BAD-OFFSETS", S.medium, "Invalid data offsets",
         "data_offsets is not a pair of non-negative integers with begin <= end; the tensor's bytes cannot "
         "be located consistently."),
        ("SAFETENSORS-SHAPE-OVERFLOW", S.medium, "Tensor size overflows 64 bits",
         "The product of the shape overflows 64 bits: parsers in languages with wrapping integers compute a "
         "small size and read or allocate the wrong amount."),
        ("SAFETENSORS-SIZE-MISMATCH", S.medium, "Tensor size does not match its data offsets",
         "The shape and dtype do not give the number of bytes between the tensor's data offsets (or a "
         "sub-byte dtype does not fill whole bytes). The reference loader refuses the file."),
        ("SAFETENSORS-OVERLAP", S.high, "Tensor data overlaps another tensor",
         "Two tensors share bytes of the data section. The reference loader refuses this; others load "
         "aliased tensors, which lets one region be interpreted two ways."),
        ("SAFETENSORS-GAP", S.medium, "Unreferenced bytes between tensors",
         "Bytes of the data section belong to no tensor. Hidden data can travel there; the gap was scanned "
         "as a member artifact."),
        ("SAFETENSORS-OUT-OF-BOUNDS", S.medium, "Tensor data runs past the end of the file",
         "A tensor's data offsets point past the end of the file: a truncated file or a crafted one meant "
         "to make parsers read out of bounds."),
        ("SAFETENSORS-TRAILING-BYTES", S.medium, "Bytes after the last tensor",
         "The data section is longer than the tensors cover (the reference loader refuses this). The extra "
         "bytes were scanned as a member artifact."),
        ("SAFETENSORS-SMUGGLED-PAYLOAD", S.high, "Tensor holds an executable or a pickle",
         "A byte tensor starts with the signature of an executable, archive or pickle: a code-free format "
         "carrying code for a second-stage loader. The payload was scanned as a member; look at its "
         "findings."),
    ),
    *_area(
        "GGUF",
        ("GGUF-TRUNCATED", S.medium, "GGUF file truncated",
         "The file is too short for a GGUF header, its header runs past the end, or no room is left for "
         "tensor data. A damaged upload or a file crafted to make readers run out of bounds."),
        ("GGUF-BAD-VERSION", S.medium, "Unknown GGUF version",
         "The version field is not 1-3. ggml refuses the file; a reader that guesses the layout may parse "
         "it differently."),
        ("GGUF-BIG-ENDIAN", S.info, "Big-endian GGUF file",
         "The file is written big-endian (for s390x and similar hosts). Legitimate but rare: it loads only "
         "on big-endian hosts. It was analysed in its own byte order."),
        ("GGUF-COUNT-INVALID", S.medium, "Header counts exceed what the file can hold",
         "The tensor or metadata counts cannot fit in the file. Readers that allocate by these counts "
         "exhaust memory (a known class of GGUF parser bugs); nothing after the header was analysed."),
        ("GGUF-BAD-KEY", S.medium, "Invalid metadata key",
         "A metadata key is empty or not UTF-8. ggml and other readers disagree on such keys."),
        ("GGUF-DUPLICATE-KEY", S.medium, "Metadata key appears more than once",
         "A metadata key is defined twice: readers keep different copies (ggml refuses the file), so a "
         "second chat template or tokenizer setting can hide behind the first."),
        ("GGUF-BAD-TYPE", S.medium, "Unknown metadata value type",
         "A metadata value (or array item) has a type id outside 0-12; readers cannot know its size and "
         "the rest of the header is unreadable."),
        ("GGUF-STRING-LENGTH-INVALID", S.medium, "String length runs past the end of the file",
         "A string's declared length exceeds the bytes left; readers that allocate by it exhaust memory or "
         "read out of bounds."),
        ("GGUF-ARRAY-LENGTH-INVALID", S.medium, "Array length runs past the end of the file",
         "An array's declared length cannot fit in the bytes left; readers that allocate by it exhaust "
         "memory."),
        ("GGUF-NESTED-ARRAY", S.medium, "Array nested in an array",
         "A metadata array contains arrays (or nests too deeply). ggml refuses nested arrays; deep nesting "
         "is a stack-exhaustion vector for recursive readers."),
        ("GGUF-BAD-ALIGNMENT", S.medium, "Invalid general.alignment",
         "general.alignment is not a positive power of two; readers compute tensor offsets differently."),
        ("GGUF-TENSOR-NAME", S.medium, "Invalid tensor name",
         "A tensor has no name (medium) or a name longer than ggml keeps (low; ggml refuses the file).",
         {S.low}),
        ("GGUF-DUPLICATE-TENSOR", S.medium, "Tensor name appears more than once",
         "Two tensor descriptors share a name; readers load different tensors under that name."),
        ("GGUF-TENSOR-DIMS", S.medium, "Invalid tensor dimensions",
         "A tensor has more than four dimensions, dimensions whose product overflows, or rows that are not "
         "a whole number of quantisation blocks; ggml refuses it and other readers miscompute its size."),
        ("GGUF-TENSOR-TYPE", S.medium, "Unknown tensor type",
         "A tensor's ggml type id is unknown; its size cannot be computed and readers refuse or misread it."),
        ("GGUF-TENSOR-MISALIGNED", S.medium, "Tensor data offset not aligned",
         "A tensor's data offset is not a multiple of the alignment; ggml refuses the file."),
        ("GGUF-TENSOR-OUT-OF-BOUNDS", S.medium, "Tensor data runs past the end of the file",
         "A tensor's data lies (partly) past the end of the file: truncated or crafted to make readers read "
         "out of bounds."),
        ("GGUF-TENSOR-OVERLAP", S.medium, "Tensor data overlaps another tensor",
         "Two tensors share bytes of the data section, so one region is read two ways."),
        ("GGUF-GAP", S.medium, "Unreferenced bytes between tensors",
         "Bytes of the data section belong to no tensor; hidden data can travel there. The gap was scanned "
         "as a member artifact."),
        ("GGUF-TRAILING-BYTES", S.low, "Bytes after the last tensor",
         "Bytes follow the last tensor's data. Readers ignore them; they were scanned as a member artifact."),
        ("GGUF-TEMPLATE-MISSING", S.low, "Listed chat template not present",
         "tokenizer.chat_templates names a template whose `tokenizer.chat_template.<name>` key is missing: "
         "a broken file, or a template that a different reader resolves elsewhere."),
    ),
    *_area(
        "Chat templates",
        ("TEMPLATE-DUNDER-ACCESS", S.critical, "Template reaches Python internals",
         "The template reads a Python object internal (`__class__`, `__globals__`, `__subclasses__`, "
         "`__builtins__`, `__init__`, ...) by attribute, item, `|attr`, `map(attribute=)` or similar. A chat "
         "template never needs these: it is the sandbox-escape pattern of CVE-2024-34359 and its kin, which "
         "runs code when the template is rendered. Do not serve the model."),
        ("TEMPLATE-OBFUSCATED-NAME", S.critical, "Template assembles a Python internal name",
         "An expression builds a Python internal name from pieces (concatenation, `~`, `%`, format, join, "
         "reverse, slicing, set variables). Obfuscating such a name only makes sense to hide a sandbox "
         "escape from scanners."),
        ("TEMPLATE-DUNDER-STRING", S.high, "Template spells a Python internal name",
         "A string literal names a Python internal. Chat templates print role markers and message text; a "
         "literal like `'__globals__'` is usually the argument of a hidden lookup."),
        ("TEMPLATE-GADGET-ACCESS", S.high, "Attribute of a Jinja global",
         "The template reads attributes or items of Jinja's global functions and objects (`lipsum`, "
         "`cycler`, `joiner`, `namespace`, `range`, `self`). These are the first step of every known Jinja "
         "sandbox escape and are never needed to format a chat."),
        ("TEMPLATE-DYNAMIC-ATTRIBUTE", S.high, "Attribute name computed at render time",
         "`|attr()` is called with a name that is not a constant, so what it reads cannot be known without "
         "rendering: a common way to hide a sandbox escape."),
        ("TEMPLATE-FORMAT-FIELD-ACCESS", S.high, "Format string reads attributes of its arguments",
         "A string used with `.format` has field access (`{0.attr}` / `{0[key]}`), which walks object "
         "attributes outside the sandbox's attribute checks (a known Jinja escape)."),
        ("TEMPLATE-PRIVATE-ATTRIBUTE", S.medium, "Template reads a private attribute",
         "The template reads an `_underscore` attribute. Jinja's sandbox blocks them and chat templates do "
         "not use them; look for an escape attempt around it."),
        ("TEMPLATE-SUSPICIOUS-GLOBAL", S.medium, "Template references a suspicious global",
         "The template names a Jinja helper (`lipsum`, `cycler`, `joiner`, `self`) or a web-framework global "
         "(`config`, `request`, ...) that chat templates do not use but escape payloads start from."),
        ("TEMPLATE-LOADS-TEMPLATE", S.medium, "Template includes another template",
         "`{% include %}`, `{% import %}` or `{% extends %}`: a chat template is self-contained, and loading "
         "another template reads files from the serving host's template search path."),
        ("TEMPLATE-RESOURCE-EXHAUSTION", S.medium, "Template would exhaust resources",
         "`range()` over a huge constant, a string repeated a huge number of times or `**` with a huge "
         "exponent: rendering the template burns CPU or memory on the serving host (denial of service)."),
        ("TEMPLATE-ATTR-FILTER", S.low, "Template uses the |attr filter",
         "`|attr` with a constant, harmless name. Chat templates access fields with `.` or `[]`; `|attr` is "
         "the usual way around the sandbox's checks, so it is worth a look even when the name is safe."),
        ("TEMPLATE-SYNTAX-ERROR", S.medium, "Template does not parse",
         "Jinja cannot parse the template. Loaders that render it fail, or a different template engine "
         "reads it differently than this check did; nothing of it was analysed."),
        ("TEMPLATE-TOO-LARGE", S.medium, "Template too large to analyse",
         "The template (or GGUF chat template) is larger than the analysis limit. Real chat templates are a "
         "few kilobytes; the template was not analysed."),
        ("TEMPLATE-TOO-COMPLEX", S.medium, "Template too complex to analyse fully",
         "The template has more syntax nodes, or deeper nesting, than the parser or the analysis handles; "
         "the rest was not analysed. Real chat templates are far below these bounds."),
    ),
    *_area(
        "ONNX",
        ("ONNX-MALFORMED", S.medium, "Not a well-formed ONNX protobuf",
         "The model is not well-formed protobuf (medium: loaders refuse it or read a different model), or a "
         "file named `.onnx` is not an ONNX model at all (low).", {S.low}),
        ("ONNX-EXTERNAL-DATA-TRAVERSAL", S.high, "External data path leaves the model directory",
         "A tensor's external data `location` is absolute, a URL, uses `~` or `..`, or resolves through a "
         "symbolic link outside the model's directory. Loading the model reads an arbitrary file into the "
         "tensor (CVE-2022-25882 / CVE-2024-27318 class), leaking it through the model's outputs."),
        ("ONNX-EXTERNAL-DATA-INVALID", S.medium, "Invalid external data entry",
         "An external tensor has no or an empty location, an offset/length that is not a plausible "
         "non-negative integer (medium), or unknown keys (low). Loaders refuse or misread it.", {S.low}),
        ("ONNX-EXTERNAL-DATA-MISSING", S.info, "External data file not found next to the model",
         "The model reads tensor data from a file that is not beside it. Usual when the model file is "
         "scanned alone; make sure the data file is scanned too."),
        ("ONNX-CUSTOM-DOMAIN", S.medium, "Model imports a custom operator domain",
         "opset_import names a domain no standard runtime implements (medium: running the model needs a "
         "native custom-op library), or an optional one such as onnxruntime-extensions or ATen (low).",
         {S.low}),
        ("ONNX-CUSTOM-OPERATOR", S.medium, "Custom operator",
         "Nodes use an operator outside ONNX and onnxruntime: it runs native code from a library the user "
         "must load, which this scan cannot see (low for optional, well-known domains).", {S.low}),
        ("ONNX-LOCAL-FUNCTIONS", S.info, "Model-local functions",
         "The model defines its own functions; their bodies were checked like the main graph. Context "
         "only."),
    ),
    *_area(
        "TensorFlow SavedModel",
        ("SAVEDMODEL-PYTHON-OP", S.critical, "Graph calls a Python function",
         "`PyFunc`, `PyFuncStateless` or `EagerPyFunc`: the graph calls a Python function registered in the "
         "loading process, i.e. arbitrary Python when the graph runs. Info for the summary of more than 20 "
         "nodes.", {S.info}),
        ("SAVEDMODEL-FILE-OP", S.high, "Graph accesses the file system",
         "Ops that read or write files or send data to files or URLs (`ReadFile`, `WriteFile`, dataset "
         "readers/writers, summary writers, `Debug*`/`PrintV2` sinks), and checkpoint ops outside the "
         "saver (high for writes, medium for restores). Running the graph touches the host's files. Info "
         "for the summary of more than 20 nodes.", {S.medium, S.info}),
        ("SAVEDMODEL-REMOTE-OP", S.medium, "Graph exchanges tensors with another host",
         "`_Send`/`_Recv` to remote jobs, `RemoteCall` or data-service ops: running the graph talks to "
         "another process or host.", {S.info}),
        ("SAVEDMODEL-CUSTOM-OP", S.medium, "Graph uses a custom op",
         "An op from a custom-op library (`Namespace>Op`): native code that must be loaded separately and "
         "that this scan cannot see.", {S.info}),
        ("SAVEDMODEL-SAVER-OP", S.info, "Checkpoint op in the saver",
         "Save/restore ops inside the checkpoint saver: normal in a SavedModel, listed for context."),
        ("SAVEDMODEL-OPS", S.info, "Ops in the graph",
         "The distinct ops of every graph and function with their counts (also in the report's `tf_ops` "
         "note). Context for the other findings."),
        ("SAVEDMODEL-ASSET-TRAVERSAL", S.high, "Asset file name leaves the assets directory",
         "An asset's file name is absolute or contains `..`: loading the model opens a file outside the "
         "SavedModel."),
        ("SAVEDMODEL-MALFORMED", S.medium, "SavedModel protobuf is malformed",
         "`saved_model.pb` or `keras_metadata.pb` is not well-formed protobuf; TensorFlow refuses the file "
         "or reads it differently than this check did."),
    ),
    *_area(
        "Keras and HDF5",
        ("KERAS-LAMBDA-BYTECODE", S.critical, "Lambda layer with serialized Python bytecode",
         "A Lambda layer carries marshalled Python bytecode (`__lambda__`, Keras 2 `function_type: lambda`). "
         "Loading with safe_mode=False, or with Keras 2, runs it: arbitrary code in the model file."),
        ("KERAS-LAMBDA", S.high, "Lambda layer calls a Python function",
         "A Lambda layer names a Python function by module and name: loading imports that module and runs "
         "the function in the forward pass. Review the function; prefer models without Lambda layers."),
        ("KERAS-MODULE-INJECTION", S.high, "Config imports a module outside Keras",
         "An object in the config names a `module` outside the Keras packages; Keras imports it and calls "
         "the named function while loading (CVE-2025-1550 class). Critical for modules that run commands "
         "or code (`os`, `subprocess`, `builtins`, ...).", {S.critical}),
        ("KERAS-UNSAFE-FUNCTION", S.high, "Config calls an unsafe Keras function",
         "The config calls a Keras function that turns safe mode off or loads files from outside the "
         "archive (`enable_unsafe_deserialization`, `get_file`, `load_model` critical; other `keras.saving` "
         "functions and `TFSMLayer` high): the safe-mode bypass class of CVE-2025-1550 and its successors.",
         {S.critical}),
        ("KERAS-TFOP-DANGEROUS", S.high, "TFOpLambda layer calls a dangerous tf function",
         "A TFOpLambda/SlicingOpLambda layer runs a `tf.io`, `py_function`, raw file op or similar function "
         "that reads or writes files or calls Python when the model runs."),
        ("KERAS-CUSTOM-OBJECT", S.low, "Custom object",
         "The config needs a registered custom object (`Package>Name`), the normal way Keras saves custom "
         "layers. Its code is not in the model file and runs when the model loads, from whatever package "
         "provides it; a dangerous module or function named there is KERAS-MODULE-INJECTION instead."),
        ("KERAS-ENCODED-PAYLOAD", S.medium, "Config value decodes to a serialized payload",
         "A string in the Keras config is base64 or hex of a pickle, archive, compressed stream or NumPy file "
         "(the CVE-2025-49655 class: custom objects or Lambda layers deserialize it at load time). The decoded "
         "bytes are scanned as a nested artifact, whose findings decide the verdict."),
        ("KERAS-CONFIG-INVALID", S.medium, "Keras config is not valid JSON",
         "`config.json` (or an HDF5 `model_config` attribute) is not valid JSON or not text; Keras refuses "
         "it, and it could not be analysed."),
        ("KERAS-CONFIG-TOO-LARGE", S.medium, "Keras config too large to analyse fully",
         "The config holds more values, or nests deeper, than the analysis walks; the rest was not "
         "analysed."),
        ("HDF5-ATTRIBUTE-TOO-LARGE", S.medium, "HDF5 attribute not read",
         "A root attribute Keras reads (`model_config`, `training_config`, `keras_version`, `backend`) "
         "declares more than one element, or more bytes than the limit or the file can hold; libhdf5 would "
         "allocate its declared size before reading, so it was not read and the model config was not analysed."),
        ("HDF5-EXTERNAL-LINK", S.medium, "Group links to another file",
         "An HDF5 external link at the root points to another file; readers that follow it open a file "
         "outside this one."),
        ("HDF5-MALFORMED", S.low, "HDF5 file could not be read",
         "h5py could not open the file or read its root attributes; the Keras config inside was not "
         "analysed."),
        ("HDF5-NOT-ANALYSED", S.info, "HDF5 attributes not read",
         "h5py cannot be imported in this installation, so the Keras config in an HDF5 file was not "
         "analysed (its bytes were still matched against the YARA rules). h5py is a dependency: repair "
         "the installation, then rescan."),
    ),
    *_area(
        "Configs, YAML and code",
        ("TRANSFORMERS-REMOTE-CODE", S.medium, "Model ships custom code",
         "`auto_map` or `custom_pipelines` in a config: loading with trust_remote_code=True imports and runs "
         "Python files from the repository (or from other repositories, which are named). Review those "
         "files (see the CODE-* findings) before trusting them."),
        ("DIFFUSERS-CUSTOM-COMPONENT", S.medium, "Diffusers component from another library",
         "`model_index.json` names a component class from a module outside diffusers and transformers: "
         "DiffusionPipeline.from_pretrained imports it (custom code in the repository or another package)."),
        ("CONFIG-DANGEROUS-TARGET", S.high, "Config instantiates a dangerous target",
         "A Hydra/NeMo `_target_` names a command-running or code-evaluating callable; "
         "hydra.utils.instantiate calls it with the sibling keys as arguments when the config is loaded."),
        ("CONFIG-INVALID-JSON", S.low, "JSON file does not parse",
         "A `.json` file is not valid JSON; loaders fail on it, and it was not analysed as a config."),
        ("CONFIG-INVALID-YAML", S.low, "YAML does not parse",
         "A YAML file does not parse (low) or nests too deeply to parse (medium); it was searched textually "
         "for Python tags only.", {S.medium}),
        ("CONFIG-NOT-ANALYSED", S.medium, "Config too large to analyse",
         "A YAML document has more nodes than the analysis walks (medium: the rest was not analysed), or a "
         "text file is larger than the text-analysis limit (info).", {S.info}),
        ("YAML-PYTHON-TAG", S.critical, "YAML tag constructs Python objects",
         "`!!python/object`, `/object/apply`, `/object/new`, `/name` or `/module` (also via `%TAG` or "
         "verbatim tags): yaml.load with an unsafe Loader imports modules and calls functions. High when "
         "found textually in a file that does not parse.", {S.high}),
        ("YAML-CUSTOM-TAG", S.low, "Non-standard YAML tag",
         "A tag that is neither standard nor Python's. safe_load refuses it; loaders with custom "
         "constructors act on it."),
        ("CODE-FILE", S.info, "Python code in the model repository",
         "A Python file travels with the model. It runs when the model is loaded with "
         "trust_remote_code=True or imported; review it like any dependency."),
        ("CODE-EXEC-ENCODED", S.critical, "Code runs decoded data",
         "`exec`/`eval`/`compile` of data decoded with base64, zlib, marshal or hex: a hidden payload."),
        ("CODE-DANGEROUS-CALL", S.high, "Code calls a dangerous function",
         "The code runs commands, evaluates code, opens network connections, loads native libraries or "
         "deserializes data (high); medium for weaker forms such as `compile`, `eval` of a constant or "
         "`pickle.loads`. The detail says whether it runs at import time.", {S.medium}),
        ("CODE-DYNAMIC-LOOKUP", S.high, "Dynamic getattr() on a dangerous module",
         "A name is looked up at run time on a module that runs commands or code (`os`, `subprocess`, "
         "`builtins`, ...): a way to hide which function runs."),
        ("CODE-COMPUTED-CALL", S.high, "Code calls a dangerous function through a computed name",
         "The called name is built at run time (string concatenation, reversal, f-strings, chr, base64/hex "
         "literals) or looked up through getattr, `__import__`, `builtins`/`vars()`/`globals()`/`sys.modules`; "
         "constant folding recovers it and it runs commands, evaluates code or reaches another sink."),
        ("CODE-DYNAMIC-IMPORT", S.medium, "Module imported by a computed name",
         "`__import__`/`importlib.import_module` with a computed module name hides what is imported."),
        ("CODE-SYNTAX-ERROR", S.low, "Python file does not parse",
         "The file is not valid Python (low) or nests too deeply to parse (medium); it was not analysed.",
         {S.medium}),
        ("CODE-NOT-ANALYSED", S.medium, "Python file nested too deeply to analyse",
         "The file parses but nests deeper than the analysis walks; its calls were not analysed."),
    ),
    *_area(
        "Zip",
        ("ZIP-MALFORMED", S.medium, "Not a readable zip archive",
         "Neither an end-of-central-directory record nor a local header at the start could be read: the "
         "file looks like a zip but is not one any reader accepts."),
        ("ZIP-NO-CENTRAL-DIRECTORY", S.medium, "Zip archive without a usable central directory",
         "Members were found by walking local headers, as streaming extractors do, while zipfile-based "
         "loaders refuse the archive: two kinds of reader see different things."),
        ("ZIP-CENTRAL-DIRECTORY-CORRUPT", S.medium, "Central directory ends early",
         "Garbage follows the last valid central-directory record; readers stop at different points."),
        ("ZIP-UNREADABLE-ENTRY", S.medium, "Member size unknown without central directory",
         "A member uses a data descriptor and there is no central directory, so its size cannot be known "
         "without decompressing; the rest of the archive was not analysed."),
        ("ZIP-PREPENDED-DATA", S.medium, "Bytes before the zip archive",
         "Data precedes the first member: a polyglot file. A loader reading from the start (pickle, legacy "
         "torch) sees different content than a zip reader; the prefix was scanned as its own member."),
        ("ZIP-PATH-TRAVERSAL", S.high, "Member path escapes the extraction directory",
         "A member name is absolute or contains `..`; extracting it writes outside the target directory "
         "(zip-slip)."),
        ("ZIP-SYMLINK", S.medium, "Symbolic link member",
         "A member is a symbolic link; extracting it can make later members write or read outside the "
         "target directory."),
        ("ZIP-DUPLICATE-NAME", S.medium, "Member name used more than once",
         "Several members share a name; readers disagree on which copy they load. Each copy was scanned."),
        ("ZIP-NAME-MISMATCH", S.high, "Local header and central directory name differ",
         "A member's name in its local header differs from the central directory's, so scanners and loaders "
         "that read different headers see different files."),
        ("ZIP-HEADER-MISMATCH", S.medium, "Local header and central directory disagree",
         "A member's compression method, sizes or CRC differ between its local header and the central "
         "directory: streaming and central-directory readers decode different data."),
        ("ZIP-LOCAL-ONLY-MEMBER", S.medium, "Member missing from the central directory",
         "Walking the local headers (as streaming extractors do) finds a member the central directory does "
         "not list, e.g. behind a corrupt extra field: zipfile-based loaders do not see it, streaming "
         "extractors extract it. It was scanned."),
        ("ZIP-CENTRAL-ONLY-MEMBER", S.medium, "Member missing from the local headers",
         "The central directory lists a member where walking the local headers finds none (inside another "
         "member's data, or past a gap): streaming extractors do not see it. It was scanned as zipfile reads "
         "it."),
        ("ZIP-LOCAL-HEADER-MISSING", S.medium, "No local header where the central directory points",
         "The central directory points to an offset without a local header; the member cannot be read the "
         "way loaders read it."),
        ("ZIP-MEMBER-TRUNCATED", S.medium, "Member data runs past the end of the file",
         "A member declares more compressed bytes than the file holds: a truncated or crafted archive."),
        ("ZIP-MEMBER-OVERLAP", S.medium, "Member data overlaps the central directory",
         "A member's data runs into the central directory: overlapping regions are read two ways (the "
         "overlapping-file zip-bomb technique)."),
        ("ZIP-SIZE-MISMATCH", S.medium, "Member size differs from the declared size",
         "A stored member's sizes disagree, or a member decompresses to more bytes than declared (medium: "
         "readers that trust the size see different data), or to fewer (low).", {S.low}),
        ("ZIP-CRC-MISMATCH", S.medium, "Member CRC-32 does not match its data",
         "Strict readers refuse the member while tolerant loaders read it; it was scanned as loaders read "
         "it."),
        ("ZIP-CORRUPT-MEMBER", S.medium, "Compressed member data is corrupt",
         "The member's compressed data is invalid; what was decompressed before the error was scanned."),
        ("ZIP-UNSUPPORTED-COMPRESSION", S.medium, "Member uses an unsupported compression method",
         "The member's compression method cannot be decompressed here, so its content was not analysed."),
        ("ZIP-ENCRYPTED", S.medium, "Encrypted member cannot be analysed",
         "The member is encrypted; its content was not scanned. Model archives have no reason to encrypt "
         "members."),
        ("ZIP-BOMB", S.high, "Zip bomb",
         "A member's compression ratio or the archive's declared total size exceeds the limits, or "
         "decompression stopped at a limit. Only the bytes within the limits were scanned."),
        ("ZIP-NOT-ANALYSED", S.medium, "Members not decompressed",
         "The decompression budget was used up; the members named in the detail were not analysed."),
    ),
    *_area(
        "Tar",
        ("TAR-MALFORMED", S.medium, "Tar archive is damaged",
         "The archive could not be read, or a header is damaged after some members; the members before the "
         "damage were scanned."),
        ("TAR-HEADER-TOO-LARGE", S.medium, "Extended header larger than any real one",
         "A GNU long-name/long-link or pax header declares more than 1 MiB; tar readers load such a header "
         "whole into memory (gigabytes from a few bytes). It was not read, nor anything after it."),
        ("TAR-PATH-TRAVERSAL", S.high, "Member path escapes the extraction directory",
         "A member name is absolute or contains `..`; extracting it writes outside the target directory."),
        ("TAR-LINK-ESCAPE", S.high, "A link points outside the archive",
         "A symbolic or hard link points outside the extraction tree; later members written through it read "
         "or overwrite files outside the target directory."),
        ("TAR-LINK", S.low, "Archive contains a link",
         "A symbolic or hard link that stays inside the archive; listed because extraction follows it."),
        ("TAR-DEVICE-FILE", S.medium, "Device or FIFO member",
         "A character/block device or FIFO member; model archives have no reason to create one."),
        ("TAR-SETUID", S.medium, "Member with setuid/setgid bits",
         "A member's mode has the setuid or setgid bit; extracted as root it keeps them, a privilege "
         "escalation vector."),
        ("TAR-DUPLICATE-NAME", S.medium, "Member name used more than once",
         "Several members share a name: extraction keeps the last copy, listings show the first. Each copy "
         "was scanned."),
        ("TAR-MEMBER-TRUNCATED", S.medium, "Member data runs past the end of the archive",
         "A member declares more bytes than the archive holds: a truncated upload or a crafted archive."),
        ("TAR-SPARSE", S.low, "Sparse member scanned as stored",
         "A GNU sparse member's data was scanned without re-inserting its holes; patterns that span a hole "
         "may be missed."),
    ),
    *_area(
        "7z",
        ("SEVENZIP-MALFORMED", S.medium, "Not a readable 7z archive",
         "The file starts like a 7z archive but its headers cannot be read."),
        ("SEVENZIP-ENCRYPTED", S.medium, "Encrypted 7z archive or members",
         "The header (so even the member names) or some members are encrypted; their content was not "
         "scanned."),
        ("SEVENZIP-PATH-TRAVERSAL", S.high, "Member path escapes the extraction directory",
         "A member name is absolute or contains `..`; extracting it writes outside the target directory."),
        ("SEVENZIP-SYMLINK", S.medium, "Symbolic link member",
         "A member is a symbolic link; extracting it can make later members write or read outside the "
         "target directory."),
        ("SEVENZIP-DUPLICATE-NAME", S.medium, "Member name used more than once",
         "Several members share a name; extractors keep different copies. Each copy was scanned."),
        ("SEVENZIP-BOMB", S.high, "7z bomb",
         "The declared decompressed size exceeds the limits (nothing was decompressed), or decompression "
         "stopped at a limit (members decompressed so far were scanned)."),
        ("SEVENZIP-CORRUPT", S.medium, "7z archive could not be fully decompressed",
         "Decompression failed part-way; the members decompressed before the error were scanned."),
        ("SEVENZIP-NOT-ANALYSED", S.medium, "7z members not decompressed",
         "A folder of the archive uses a coder (Deflate, Deflate64) whose decoder returns all the output of an "
         "input chunk at once, and unpacks to more than 32 MiB: decompressing it could take gigabytes of "
         "memory, so its members were not analysed. Repack with LZMA2 to have it scanned."),
    ),
    *_area(
        "Compressed streams",
        ("DECOMPRESSION-BOMB", S.high, "Decompression bomb",
         "A gzip/bz2/xz/lzma/lz4/zlib stream decompresses beyond the ratio, byte or file-size limits; only "
         "the first bytes were scanned."),
        ("COMPRESSED-CORRUPT", S.low, "Compressed stream is corrupt",
         "The stream is invalid part-way; what was decompressed before the error was scanned."),
        ("COMPRESSED-TRUNCATED", S.low, "Compressed stream ends early",
         "The stream ends without its end marker; what was decompressed was scanned."),
        ("COMPRESSED-TRAILING-DATA", S.medium, "Bytes after the compressed stream",
         "Data appended after the end of the stream is ignored by decompressors but can hide a payload."),
        ("COMPRESSED-SIZE-MISMATCH", S.low, "Declared size differs from the content",
         "The header's declared decompressed size (gzip ISIZE, lz4 content size) differs from what the "
         "stream holds."),
    ),
    *_area(
        "Pipeline",
        ("ARTIFACT-DIGEST-MISMATCH", S.critical, "Bytes do not match the digest the store announced",
         "The store's event announced a sha256 and the fetched bytes hash to something else: the artifact "
         "was changed after it was recorded, or in transit. Block it until the store and the bytes "
         "agree."),
        ("ARTIFACT-SIZE-MISMATCH", S.high, "Size does not match what the store announced",
         "The fetched artifact has a different size than the store's event announced: a replaced or "
         "truncated artifact."),
        scope="pipeline",
    ),
    *_area(
        "Index and alerts",
        ("MODELSCREEN-ANALYSIS-ERROR", S.medium, "Artifact could not be analysed",
         "Written to Elasticsearch and alerts for an artifact whose scan ended in `error` (fetch failed, "
         "engine error, limits) so that it is visible next to real findings. Treat it as unscanned: do not "
         "approve it until it scans cleanly."),
        scope="sinks",
    ),
    *_area(
        "Provenance",
        ("PINNED-ARTIFACT-CHANGED", S.critical, "Pinned artifact changed",
         "An artifact pinned to a digest in the inventory was uploaded or downloaded with different bytes: "
         "it was replaced after it was pinned. Block it and compare it with the pinned bytes."),
        ("PROVENANCE-UNAPPROVED-DOWNLOAD", S.high, "Download of unapproved bytes",
         "Bytes that are not approved in the inventory for this model were downloaded. Review them, then "
         "approve (`modelscreen inventory approve`) or remove them."),
        ("PROVENANCE-PENDING-APPROVAL", S.medium, "Approval pending",
         "New bytes were uploaded for a model whose policy requires approval; an approval request is open "
         "until someone approves or rejects them."),
        ("PROVENANCE-REVOKED-DOWNLOAD", S.high, "Download of revoked bytes",
         "Bytes whose approval was revoked were downloaded; the detail says who revoked them and why. Stop "
         "using this artifact."),
        ("POLICY-FORMAT-NOT-ALLOWED", S.high, "Format not allowed in this store",
         "The store's policy does not allow this artifact's format (for example pickle-based formats in a "
         "production store)."),
        ("SIGNATURE-MISSING", S.high, "No verified signature",
         "The policy requires a verified model signature (OpenSSF model signing) and none is recorded for "
         "these bytes."),
        ("SIGNATURE-INVALID", S.critical, "Signature does not verify",
         "A signature bundle was found but cannot be read, has no signing certificate, uses an unknown "
         "manifest serialization or does not verify against the model: forged, corrupted or made for "
         "other bytes."),
        ("SIGNATURE-UNEXPECTED-SIGNER", S.critical, "Signed by an unexpected signer",
         "The signature verifies, but with a different key or certificate than the one configured, a "
         "certificate that does not chain to the trusted CA, or a signer the policy does not accept."),
        ("SIGNATURE-TAMPERED-FILE", S.critical, "File changed after signing",
         "A file of the model has a different digest than the signed manifest records: it was modified "
         "after signing."),
        ("SIGNATURE-EXTRA-FILE", S.high, "File not covered by the signature",
         "A file is in the model but not in the signed manifest: something was added after signing."),
        ("SIGNATURE-MISSING-FILE", S.high, "Signed file is missing",
         "A file listed in the signed manifest is not in the model: something was removed after signing."),
        ("HF-PIN-DIGEST-MISMATCH", S.critical, "File differs from the pinned Hub revision",
         "A local file's digest differs from the one the Hugging Face Hub records for the pinned revision: "
         "the copy was modified, or was downloaded from another revision."),
        ("HF-PIN-MISSING-FILE", S.medium, "File of the pinned revision is missing",
         "A file of the pinned Hub revision is not in the local copy."),
        ("HF-PIN-EXTRA-FILE", S.medium, "File not in the pinned revision",
         "The local copy holds a file that the pinned Hub revision does not: added locally or from another "
         "revision."),
        ("MODEL-TENSOR-DRIFT", S.info, "Tensors differ from the previous version",
         "The per-tensor digests of a new version of a model differ from the previous version's: lists the "
         "changed, added and removed tensors. Expected after fine-tuning; unexpected drift in a release "
         "that claims only metadata changes deserves a look."),
        scope="provenance", policy=True,
    ),
    *_area(
        "Behaviour",
        ("BEHAVIOUR-DRIFT", S.high, "Behaviour drifted from the baseline",
         "Run in the sandbox on the name's probe suite, the model's outputs moved past the policy's thresholds "
         "since the known-good baseline (classifier label changes or probability shift, embedding cosine, "
         "language-model next-token divergence or greedy agreement). The finding says whether the model "
         "bytes, the runtime version or both changed and names the probes that moved most. Review the change "
         "before promoting; record a new baseline if it is intended."),
        ("BEHAVIOUR-TRIGGER-SENSITIVE", S.high, "Backdoor-trigger sensitive",
         "A trigger sweep found a candidate (a token, a known trigger phrase, or an out-of-range feature "
         "pattern) that flips most probes to one and the same output while random controls of the same kind "
         "do not: the signature of a planted backdoor. The finding names the trigger and the target. Do not "
         "promote; find out where the model was trained and on what data. A clean sweep is not proof of "
         "absence."),
        ("BEHAVIOUR-EVALUATION-ERROR", S.medium, "Behaviour could not be evaluated",
         "The pipeline's evaluate stage could not evaluate a new version of a name that has a behaviour "
         "baseline (the model does not load or needs a custom op, a probe does not match its inputs, a "
         "sandbox limit was hit, or the bytes changed since the scan). Treat it as unevaluated."),
        scope="provenance", policy=True,
    ),
]

CATALOG: Mapping[str, Rule] = _build(_RULES)

# Findings that say part of the artifact could not be analysed (corrupt, truncated, encrypted, too deep, a
# limit, a parser that gave up): whatever their severity, the verdict is `error` unless something high or
# critical was found (workers/engine/verdict.py; docs/formats.md lists them).
NOT_ANALYSED: frozenset[str] = frozenset({
    # the engine and its limits
    "ENGINE-ERROR", "LIMIT-EXCEEDED", "LIMIT-NESTING",
    # the sandbox around it
    "ENGINE-CRASH", "LIMIT-MEMORY", "LIMIT-TIME",
    # compressed streams and archives
    "COMPRESSED-CORRUPT", "COMPRESSED-TRUNCATED",
    "ZIP-MALFORMED", "ZIP-ENCRYPTED", "ZIP-UNSUPPORTED-COMPRESSION", "ZIP-NOT-ANALYSED", "ZIP-CORRUPT-MEMBER",
    "ZIP-UNREADABLE-ENTRY", "ZIP-LOCAL-HEADER-MISSING", "TAR-MALFORMED", "TAR-HEADER-TOO-LARGE",
    "SEVENZIP-MALFORMED", "SEVENZIP-CORRUPT", "SEVENZIP-ENCRYPTED", "SEVENZIP-NOT-ANALYSED",
    # model formats
    "PICKLE-MALFORMED", "TORCH-LEGACY-MALFORMED", "ONNX-MALFORMED", "SAVEDMODEL-MALFORMED",
    "HDF5-MALFORMED", "HDF5-NOT-ANALYSED", "HDF5-ATTRIBUTE-TOO-LARGE",
    "NUMPY-SIZE-MISMATCH", "NUMPY-HEADER-INVALID", "SAFETENSORS-HEADER-INVALID", "SAFETENSORS-HEADER-TOO-LARGE",
    "GGUF-TRUNCATED", "GGUF-BAD-VERSION", "KERAS-CONFIG-INVALID", "KERAS-CONFIG-TOO-LARGE",
    # code, configs and templates
    "CODE-SYNTAX-ERROR", "CODE-NOT-ANALYSED", "CONFIG-INVALID-YAML", "CONFIG-INVALID-JSON", "CONFIG-NOT-ANALYSED",
    "TEMPLATE-SYNTAX-ERROR", "TEMPLATE-TOO-COMPLEX", "TEMPLATE-TOO-LARGE",
    # the payload rules
    "YARA-RULES-UNAVAILABLE",
})
if NOT_ANALYSED - set(CATALOG):  # pragma: no cover - a typo here would silently lower verdicts
    raise ValueError(f"undeclared not-analysed rules: {sorted(NOT_ANALYSED - set(CATALOG))}")


def is_yara_id(rule_id: str) -> bool:
    """Ids of YARA rules: declared by the rule library's metadata, not in CATALOG."""
    return bool(YARA_ID.match(rule_id))


def lookup(rule_id: str) -> Rule:
    """The declared rule, or UndeclaredRule. YARA ids are not in the catalog: check `is_yara_id` first."""
    try:
        return CATALOG[rule_id]
    except KeyError:
        raise UndeclaredRule(f"finding id {rule_id!r} is not declared in the rule catalog "
                             "(modelscreen.engine.catalog)") from None


def check_severity(rule: Rule, severity: Severity) -> Severity:
    if severity not in rule.severities:
        raise UndeclaredRule(f"{rule.id} is declared with severity {', '.join(sorted(s.value for s in rule.severities))}, "
                             f"not {severity.value}")
    return severity
