"""Every Python example in docs/models.md runs as written (in order, one namespace)."""

import re
from pathlib import Path

import torch

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def test_models_doc_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 7
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    torch.manual_seed(0)
    for index, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/models.md[python block {index}]", "exec"), namespace)  # noqa: S102
        except Exception as exc:  # pragma: no cover - the message shows which block broke
            raise AssertionError(f"docs/models.md python block {index} failed: {exc!r}\n{block}") from exc


def test_models_doc_yaml_example_is_valid():
    import yaml

    from soen_train.model import SOENModel

    text = DOC.read_text()
    block = re.search(r"```yaml\n(.*?)```", text, flags=re.DOTALL).group(1)
    model = SOENModel.from_yaml(yaml.safe_load(block))
    assert model.layer_ids == [0, 1] and model.layer(1).gamma_plus.requires_grad
