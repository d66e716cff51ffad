"""LightGBM's model text (Booster.save_model) checked before LightGBM reads it, and its JSON
dump (Booster.dump_model) turned back into that text.

Why check it ourselves: LightGBM trusts the file. A truncated file whose header still
lists tree_sizes makes it parse trees in parallel and abort the whole process
("terminate called"); without tree_sizes it loads the trees before the cut and
silently answers with part of the model; a child index out of range or a cycle
would read past its arrays or loop for ever at prediction time. So every tree is
checked to be a real tree over declared features, and the text LightGBM gets has
no tree_sizes line (it then parses trees one after the other).

LightGBM cannot load its own JSON dump; the dump holds every number the text format
needs for prediction, so it is written back as model text and loaded by LightGBM.
"""

import json
import math
import re

import numpy as np
import orjson

from core.errors import InvalidModel

HEADER_KEYS = ("version", "num_class", "num_tree_per_iteration", "max_feature_idx", "objective")
CATEGORICAL = 1
DEFAULT_LEFT = 2
MISSING_TYPES = {"None": 0, "Zero": 1, "NaN": 2}


def _bad(message: str) -> InvalidModel:
    return InvalidModel(f"This LightGBM model file is damaged or not a LightGBM model: {message}", code="invalid_model")


def _ints(text: str, what: str, tree: int) -> np.ndarray:
    try:
        return np.array(text.split(), dtype=np.int64)
    except ValueError:
        raise _bad(f"tree {tree}: {what} holds something that is not a whole number") from None


def _floats(text: str, what: str, tree: int) -> np.ndarray:
    try:
        return np.array(text.split(), dtype=np.float64)
    except ValueError:
        raise _bad(f"tree {tree}: {what} holds something that is not a number") from None


def _check_tree(index: int, tree: dict, n_features: int) -> None:
    try:
        leaves = int(tree["num_leaves"])
        num_cat = int(tree.get("num_cat", "0"))
    except (KeyError, ValueError):
        raise _bad(f"tree {index} has no valid num_leaves") from None
    if leaves < 1:
        raise _bad(f"tree {index} has {leaves} leaves")
    if "leaf_value" not in tree:
        raise _bad(f"tree {index} has no leaf_value (the file is cut short?)")
    values = _floats(tree["leaf_value"], "leaf_value", index)
    if len(values) != leaves:
        raise _bad(f"tree {index} declares {leaves} leaves but has {len(values)} leaf values")
    if leaves == 1:
        return
    inner = leaves - 1
    arrays = {}
    for key in ("split_feature", "decision_type", "left_child", "right_child"):
        if key not in tree:
            raise _bad(f"tree {index} has no {key}")
        arrays[key] = _ints(tree[key], key, index)
        if len(arrays[key]) != inner:
            raise _bad(f"tree {index}: {key} has {len(arrays[key])} entries for {inner} splits")
    if "threshold" not in tree or len(_floats(tree["threshold"], "threshold", index)) != inner:
        raise _bad(f"tree {index}: threshold does not have one entry per split")
    features = arrays["split_feature"]
    if features.min() < 0 or features.max() >= n_features:
        raise _bad(f"tree {index} splits on a feature the model does not declare")
    children = np.concatenate([arrays["left_child"], arrays["right_child"]])
    if children.min() < -leaves or children.max() >= inner:
        raise _bad(f"tree {index} points to a node it does not have")
    # A tree: every node but the root, and every leaf, is the child of exactly one split,
    # and all of them hang from the root (no cycle off to the side).
    internal = children[children >= 0]
    if 0 in internal or len(np.unique(internal)) != inner - 1 or len(np.unique(children[children < 0])) != leaves:
        raise _bad(f"tree {index} is not a tree (a node has two parents, or the root has one)")
    seen, stack = 0, [0]
    while stack:
        node = stack.pop()
        seen += 1
        for child in (arrays["left_child"][node], arrays["right_child"][node]):
            if child >= 0:
                stack.append(int(child))
    if seen != inner:
        raise _bad(f"tree {index} has splits that the root does not reach")
    categorical = (arrays["decision_type"] & CATEGORICAL) != 0
    if categorical.any():
        thresholds = _floats(tree["threshold"], "threshold", index)[categorical]
        boundaries = _ints(tree.get("cat_boundaries", ""), "cat_boundaries", index)
        words = _ints(tree.get("cat_threshold", ""), "cat_threshold", index)
        if (
            len(boundaries) != num_cat + 1
            or boundaries[0] != 0
            or np.any(np.diff(boundaries) < 0)
            or boundaries[-1] != len(words)
            or thresholds.min() < 0
            or thresholds.max() >= num_cat
        ):
            raise _bad(f"tree {index} has inconsistent categorical splits")


def _blocks(text: str) -> tuple[dict, list[dict], str]:
    """The header's key=value lines, each tree's, and what follows 'end of trees'."""
    head, marker, tail = text.partition("end of trees")
    if not marker:
        raise _bad("it does not end its trees with 'end of trees' (the file is cut short?)")
    parts = head.split("\nTree=")
    header = {}
    for line in parts[0].splitlines():
        key, sep, value = line.partition("=")
        if sep:
            header[key.strip()] = value.strip()
    trees = []
    for i, part in enumerate(parts[1:]):
        number, _, body = part.partition("\n")
        if number.strip() != str(i):
            raise _bad(f"tree {i} is numbered {number.strip()!r}")
        tree = {}
        for line in body.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                tree[key.strip()] = value.strip()
        trees.append(tree)
    return header, trees, tail


def checked_model_text(text: str) -> tuple[str, dict]:
    """The model text for LightGBM and its header, or InvalidModel. LightGBM gets the header
    without tree_sizes, the trees, and the pandas categories: the feature importances and
    training parameters play no part in predicting, and LightGBM crashes on a cut-short
    parameters section, so they are left out."""
    if not text.startswith("tree"):
        raise _bad("it does not start with 'tree'")
    header, trees, tail = _blocks(text)
    missing = [k for k in HEADER_KEYS if k not in header]
    if missing:
        raise _bad(f"the header lacks {', '.join(missing)}")
    try:
        n_features = int(header["max_feature_idx"]) + 1
        per_iteration = int(header["num_tree_per_iteration"])
    except ValueError:
        raise _bad("max_feature_idx or num_tree_per_iteration is not a number") from None
    if not trees:
        raise _bad("it holds no trees")
    if per_iteration < 1 or len(trees) % per_iteration:
        raise _bad(f"{len(trees)} trees do not divide into iterations of {per_iteration} (the file is cut short?)")
    if len(header.get("feature_names", "").split()) != n_features:
        raise _bad("feature_names does not list max_feature_idx + 1 names")
    for i, tree in enumerate(trees):
        _check_tree(i, tree, n_features)
    # LightGBM ends its text with the parameters, and the Python package then adds the pandas
    # categories: a text that stops anywhere else after the trees was cut short.
    last = next((line.strip() for line in reversed(tail.splitlines()) if line.strip()), "")
    if last and last != "end of parameters" and not last.startswith("pandas_categorical:"):
        raise _bad("it ends in the middle of what follows the trees (the file is cut short?)")
    head = text[: text.index("end of trees")]
    head = re.sub(r"(?m)^tree_sizes=.*\n", "", head, count=1)
    model = head + "end of trees\n"
    categorical = next((line for line in tail.splitlines() if line.startswith("pandas_categorical:")), None)
    if categorical is not None:
        try:
            json.loads(categorical.split(":", 1)[1])
        except ValueError:
            raise _bad("its pandas_categorical line is not valid JSON (cut short?)") from None
        model += "\n" + categorical + "\n"
    boosting = re.search(r"^\[boosting: (\w+)\]", tail, re.M)
    header["boosting"] = boosting.group(1) if boosting else ""
    return model, header


# ---- the JSON dump ---------------------------------------------------------------------


def _number(value) -> str:
    return repr(float(value)) if not isinstance(value, str) else value


def _feature_info(info: dict) -> str:
    if info.get("values"):
        return ":".join(str(int(v)) for v in info["values"])
    low, high = info.get("min_value"), info.get("max_value")
    if low is None or high is None or (isinstance(low, float) and math.isinf(low)):
        return "none"
    return f"[{_number(low)}:{_number(high)}]"


def _tree_text(index: int, entry: dict) -> str:
    structure = entry["tree_structure"]
    leaves = int(entry["num_leaves"])
    if "leaf_value" in structure and "split_index" not in structure:
        values = {0: structure}
        splits = []
    else:
        splits, values = [], {}
        stack = [structure]
        while stack:
            node = stack.pop()
            if "split_index" in node:
                splits.append(node)
                stack += [node["left_child"], node["right_child"]]
            else:
                values[int(node.get("leaf_index", 0))] = node
        splits.sort(key=lambda n: int(n["split_index"]))
    if len(values) != leaves or len(splits) != leaves - 1:
        raise _bad(f"tree {index}: num_leaves is {leaves} but the structure has {len(values)} leaves")

    def child(node) -> int:
        return int(node["split_index"]) if "split_index" in node else -int(node.get("leaf_index", 0)) - 1

    decision, thresholds, boundaries, words = [], [], [0], []
    for node in splits:
        kind = (DEFAULT_LEFT if node.get("default_left") else 0) | (MISSING_TYPES.get(node.get("missing_type", "None"), 0) << 2)
        if node.get("decision_type") == "==":
            categories = [int(v) for v in str(node["threshold"]).split("||") if v != ""]
            bits = [0] * (max(categories) // 32 + 1 if categories else 1)
            for c in categories:
                if c < 0:
                    raise _bad(f"tree {index} has a negative category")
                bits[c // 32] |= 1 << (c % 32)
            thresholds.append(str(len(boundaries) - 1))
            words += bits
            boundaries.append(len(words))
            kind |= CATEGORICAL
        elif node.get("decision_type") == "<=":
            thresholds.append(_number(node["threshold"]))
        else:
            raise _bad(f"tree {index} has a split of unknown kind {node.get('decision_type')!r}")
        decision.append(str(kind))
    if any(leaf.get("leaf_coeff") for leaf in values.values()):
        raise InvalidModel(
            "This LightGBM JSON dump has linear trees (linear_tree=True), which mlserve reads only from the model text: "
            "upload the file written by booster.save_model() instead.",
            code="unsupported_format",
        )
    leaf_order = [values[i] for i in range(leaves)]

    def row(key: str, items) -> str:
        return f"{key}=" + " ".join(str(v) for v in items)

    lines = [
        f"Tree={index}",
        f"num_leaves={leaves}",
        f"num_cat={len(boundaries) - 1}",
        row("split_feature", [int(n["split_feature"]) for n in splits]),
        row("split_gain", [_number(n.get("split_gain", 0)) for n in splits]),
        row("threshold", thresholds),
        row("decision_type", decision),
        row("left_child", [child(n["left_child"]) for n in splits]),
        row("right_child", [child(n["right_child"]) for n in splits]),
        row("leaf_value", [_number(leaf["leaf_value"]) for leaf in leaf_order]),
        row("leaf_weight", [_number(leaf.get("leaf_weight", 0)) for leaf in leaf_order]),
        row("leaf_count", [int(leaf.get("leaf_count", 0)) for leaf in leaf_order]),
        row("internal_value", [_number(n.get("internal_value", 0)) for n in splits]),
        row("internal_weight", [_number(n.get("internal_weight", 0)) for n in splits]),
        row("internal_count", [int(n.get("internal_count", 0)) for n in splits]),
    ]
    if len(boundaries) > 1:
        lines += [row("cat_boundaries", boundaries), row("cat_threshold", words)]
    lines += ["is_linear=0", f"shrinkage={_number(entry.get('shrinkage', 1))}", "", ""]
    return "\n".join(lines)


def text_from_json_dump(dump: dict) -> str:
    """The model text that LightGBM wrote the dump from (the parts prediction needs)."""
    if not isinstance(dump, dict) or dump.get("name") != "tree" or not isinstance(dump.get("tree_info"), list):
        raise _bad("the JSON is not a LightGBM dump_model() (no 'name': 'tree' and 'tree_info')")
    try:
        names = list(dump["feature_names"])
        infos = dump.get("feature_infos") or {}
        header = [
            "tree",
            f"version={dump.get('version', 'v4')}",
            f"num_class={int(dump['num_class'])}",
            f"num_tree_per_iteration={int(dump['num_tree_per_iteration'])}",
            f"label_index={int(dump.get('label_index', 0))}",
            f"max_feature_idx={int(dump['max_feature_idx'])}",
            f"objective={dump['objective']}",
        ]
        if dump.get("average_output"):
            header.append("average_output")
        header += [
            "feature_names=" + " ".join(str(n) for n in names),
            "feature_infos=" + " ".join(_feature_info(infos.get(n, {})) for n in names),
            "",
        ]
        trees = [_tree_text(i, entry) for i, entry in enumerate(dump["tree_info"])]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _bad(f"the JSON dump lacks or mangles {exc}") from None
    text = "\n".join(header) + "\n" + "".join(trees) + "end of trees\n"
    if dump.get("pandas_categorical") is not None:
        text += "\npandas_categorical:" + orjson.dumps(dump["pandas_categorical"]).decode() + "\n"
    return text
