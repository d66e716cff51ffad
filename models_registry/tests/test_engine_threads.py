"""The LightGBM and CatBoost runtimes import no Django and leave no thread behind: runners
fork after importing the engines, and a fork keeps only the thread that called it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

# numpy's OpenBLAS and pandas' pyarrow (jemalloc) start threads of their own unless told not to.
QUIET_ENV = {"OPENBLAS_NUM_THREADS": "1", "JE_ARROW_MALLOC_CONF": "background_thread:false"}

CHILD = r"""
import json, os, sys
from pathlib import Path

def threads():
    return len(os.listdir("/proc/self/task"))

seen = {}
import numpy, pandas
seen["numpy and pandas"] = threads()
from models_registry.runtimes import Batch, lightgbm as lgb_runtime, catboost as cb_runtime
import lightgbm, catboost, av
seen["engines imported"] = threads()
for module, name in ((lgb_runtime, sys.argv[1]), (cb_runtime, sys.argv[2])):
    info, predictor = module.inspect(Path(name))
    columns = {f.name: numpy.full(500, 0.5) for f in info.inputs}
    predictor.predict(Batch(columns=columns, n_rows=500))
    seen[f"{info.format} loaded and predicted"] = threads()
seen["django imported"] = "django" in sys.modules
print(json.dumps(seen))
"""


@pytest.mark.parametrize("lgb_file, cb_file", [("cancer_lgbm.txt", "cancer_catboost.cbm")])
def test_importing_loading_and_predicting_starts_no_thread(model_files, lgb_file, cb_file):
    import os

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(model_files[lgb_file]), str(model_files[cb_file])],
        env={**os.environ, **QUIET_ENV, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {
        "numpy and pandas": 1,
        "engines imported": 1,
        "lightgbm loaded and predicted": 1,
        "catboost loaded and predicted": 1,
        "django imported": False,
    }
