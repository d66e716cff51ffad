"""Run in bench/.mlflow-venv: save the benchmark's models as MLflow models."""

import sys
from pathlib import Path

import joblib
import mlflow.sklearn
import mlflow.xgboost
import xgboost as xgb

out = Path(sys.argv[1])
for name in ("iris_logreg", "cancer_forest"):
    target = out / f"mlflow-{name}"
    if not target.exists():
        mlflow.sklearn.save_model(joblib.load(out / f"{name}.joblib"), str(target))
target = out / "mlflow-cancer_xgb"
if not target.exists():
    model = xgb.XGBClassifier()
    model.load_model(out / "cancer_xgb.json")
    mlflow.xgboost.save_model(model, str(target))
print("saved")
