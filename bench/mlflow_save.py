"""Run in bench/.mlflow-venv: save the benchmark's models as MLflow models (MLflow's defaults,
except cloudpickle for scikit-learn, which needs no list of trusted types)."""

import shutil
import sys
from pathlib import Path

import joblib
import mlflow.sklearn
import mlflow.xgboost
import xgboost as xgb

out = Path(sys.argv[1])
for name in ("iris_logreg", "cancer_forest", "cancer_xgb"):
    shutil.rmtree(out / f"mlflow-{name}", ignore_errors=True)
for name in ("iris_logreg", "cancer_forest"):
    mlflow.sklearn.save_model(joblib.load(out / f"{name}.joblib"), str(out / f"mlflow-{name}"), serialization_format="cloudpickle")
model = xgb.XGBClassifier()
model.load_model(out / "cancer_xgb.json")
mlflow.xgboost.save_model(model, str(out / "mlflow-cancer_xgb"))
print("saved")
