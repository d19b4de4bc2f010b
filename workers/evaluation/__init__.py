"""Behaviour evaluation: known-good baselines of what a model outputs on a probe suite, drift against them,
and backdoor-trigger sweeps. Models run only inside the sandbox (modelscreen.sandbox), only from code-free
formats (ONNX through onnxruntime). Needs the `evaluate` extra (onnxruntime, numpy, tokenizers).

    from modelscreen.evaluation.service import EvaluationOptions, evaluate, make_baseline
"""
