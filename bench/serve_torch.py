"""The same model served the way a PyTorch user would: the recur model file
loaded into the equivalent nn.Module (tests/parity/torch_check.py builds
it and load_state_dict checks every tensor), behind FastAPI on uvicorn,
speaking the same Open Inference Protocol request and response for one
BYTES input. Run by bench/serve_bench.py:

    RECUR_BENCH_MODEL=m.safetensors uvicorn --app-dir bench serve_torch:app --port N

Encoding is the tutorial's: NFC, then the model's vocabulary (unknown
symbols to id 0), as bench/torch_ref.py does."""
import json
import os
import sys
import unicodedata

import numpy as np
import torch
from fastapi import FastAPI, HTTPException, Request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "parity"))
import torch_check  # noqa: E402

PATH = os.environ["RECUR_BENCH_MODEL"]
NAME = os.path.basename(PATH).rsplit(".safetensors", 1)[0]
weights, meta = torch_check.read_safetensors(PATH)
model = torch_check.build_model(meta)
model.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in weights.items()
                       if not k.startswith("optim.")}, strict=True)
model.eval()
LABELS = json.loads(meta["labels"])
VOCAB = {s: i + 2 for i, s in enumerate(json.loads(meta["vocab"]))}
torch.set_num_threads(int(os.environ.get("RECUR_BENCH_TORCH_THREADS", "1")))
app = FastAPI()


@app.post("/v2/models/{name}/infer")
async def infer(name: str, request: Request):
    if name != NAME:
        raise HTTPException(status_code=400, detail="unknown model")
    body = await request.json()
    texts = body["inputs"][0]["data"]
    ids, offsets = [], [0]
    for t in texts:
        ids.extend(VOCAB.get(c, 0) for c in unicodedata.normalize("NFC", t))
        offsets.append(len(ids))
    with torch.inference_mode():
        lp = model(torch.tensor(ids, dtype=torch.int64), torch.tensor(offsets, dtype=torch.int64))
    best = lp.argmax(dim=1).tolist()
    return {"model_name": NAME, "model_version": "1",
            "outputs": [{"name": "label", "datatype": "BYTES", "shape": [len(texts)], "data": [LABELS[b] for b in best]},
                        {"name": "logprobs", "datatype": "FP32", "shape": list(lp.shape),
                         "data": lp.flatten().tolist()}]}
