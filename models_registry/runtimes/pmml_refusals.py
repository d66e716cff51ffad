"""Why PMML4S refused a document, in words a data scientist can act on.

The evaluator answers a broken document with a Java exception ("NullPointerException:
Cannot invoke org.pmml4s..."), which names neither the element nor the line. When it
refuses one, we look for the usual culprits ourselves (a required child missing, an
<Array> whose values do not match its n or type, an attribute value the standard does
not define) and say what is wrong and where; the engine's own text goes in details.

Line numbers come from a second pass with expat over a document that defusedxml has
already vetted (no entities, no DTD), so this pass fetches and expands nothing.
"""

import re
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path

# Children the PMML 4.x schema requires of each model element (minOccurs >= 1).
REQUIRED_CHILDREN = {
    "TreeModel": ("Node",),
    "RegressionModel": ("RegressionTable",),
    "NeuralNetwork": ("NeuralInputs", "NeuralLayer", "NeuralOutputs"),
    "MiningModel": ("Segmentation",),
    "ClusteringModel": ("ComparisonMeasure", "Cluster"),
    "SupportVectorMachineModel": ("VectorDictionary", "SupportVectorMachine"),
    "Scorecard": ("Characteristics",),
    "RuleSetModel": ("RuleSet",),
    "GeneralRegressionModel": ("ParameterList", "ParamMatrix"),
    "NearestNeighborModel": ("TrainingInstances", "ComparisonMeasure", "KNNInputs"),
    "NaiveBayesModel": ("BayesInputs", "BayesOutput"),
}
WHY_REQUIRED = {
    "BayesOutput": "the target field and its counts per class, which every naive Bayes prediction starts from",
    "BayesInputs": "the per-input counts or distributions per class",
    "Node": "the tree itself",
    "RegressionTable": "the intercept and coefficients",
    "Segmentation": "the segments (models) to combine",
}
PREDICATES = {"SimplePredicate", "CompoundPredicate", "SimpleSetPredicate", "True", "False"}
ARRAY_TYPES = {"int", "real", "string"}
ENGINE_HINTS = {
    "NullPointerException": "an element or attribute that the evaluator needs is missing",
    "NumberFormatException": "a value that must be a number is not one",
    "AttributeNotFoundException": "a required attribute is missing",
    "NoSuchElementException": "an attribute has a value that PMML does not define",
    "SemanticErrorException": "the document breaks a rule of the PMML standard",
    "NotSupportedException": "the document uses a PMML feature this evaluator does not support",
    "UnsupportedOperationException": "the document uses a PMML feature this evaluator does not support",
    "StackOverflowError": "its elements nest too deeply for the evaluator",
    "OutOfMemoryError": "it is too large for the evaluator's memory (MLSERVE_PMML_JAVA_OPTS)",
}


@dataclass
class Element:
    tag: str
    line: int
    attrs: dict
    parent: "Element | None" = None
    children: list = field(default_factory=list)
    text: str = ""

    def child(self, tag: str) -> "Element | None":
        return next((c for c in self.children if c.tag == tag), None)

    def walk(self):
        """This element and all below it, in document order (without recursion: trees nest deep)."""
        stack = [self]
        while stack:
            element = stack.pop()
            yield element
            stack.extend(reversed(element.children))


@dataclass
class Problem:
    element: str
    line: int
    sentence: str


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def element_tree(path: Path) -> Element | None:
    """Every element with its line number; None if the document does not parse."""
    parser = xml.parsers.expat.ParserCreate()
    root: list[Element] = []
    stack: list[Element] = []

    def start(name, attrs):
        element = Element(tag=_local(name), line=parser.CurrentLineNumber, attrs=attrs, parent=stack[-1] if stack else None)
        (stack[-1].children if stack else root).append(element)
        stack.append(element)

    def end(name):
        stack.pop()

    def text(data):
        if stack:
            stack[-1].text += data

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        with open(path, "rb") as f:
            parser.ParseFile(f)
    except (xml.parsers.expat.ExpatError, OSError):
        return None
    return root[0] if root else None


def array_tokens(text: str) -> tuple[list[str], bool]:
    """An <Array>'s values: blank-separated, strings optionally in double quotes (\\" escapes
    a quote); and whether a quote was left open."""
    tokens, i, n = [], 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] == '"':
            j, value = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                value.append(text[j])
                j += 1
            if j >= n:
                tokens.append("".join(value))
                return tokens, True
            tokens.append("".join(value))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace():
                j += 1
            tokens.append(text[i:j])
            i = j
    return tokens, False


def _is_number(token: str, kind: str) -> bool:
    try:
        int(token) if kind == "int" else float(token)
    except ValueError:
        return False
    return True


def _array_problem(array: Element) -> Problem | None:
    where = f"<Array> in <{array.parent.tag}>" if array.parent is not None else "<Array>"
    kind = array.attrs.get("type")
    tokens, open_quote = array_tokens(array.text)
    if kind is None:
        return Problem("Array", array.line, f'{where} has no type attribute (PMML requires type="int", "real" or "string")')
    if kind not in ARRAY_TYPES:
        return Problem("Array", array.line, f'{where} has type="{kind}"; PMML allows only "int", "real" or "string"')
    if open_quote:
        return Problem("Array", array.line, f"{where} has a value whose opening double quote is never closed ({tokens[-1][:40]!r})")
    bad = next((t for t in tokens if not _is_number(t, kind)), None) if kind != "string" else None
    if bad is not None:
        return Problem("Array", array.line, f'{where} is type="{kind}" but holds {bad[:40]!r}, which is not a number')
    declared = array.attrs.get("n")
    if declared is not None:
        if not declared.strip().isdigit():
            return Problem("Array", array.line, f'{where} has n="{declared}", which is not a count')
        if int(declared) != len(tokens):
            hint = " (a value that contains spaces must be in double quotes)" if len(tokens) > int(declared) else ""
            return Problem("Array", array.line, f'{where} declares n="{declared}" values but holds {len(tokens)}{hint}')
    return None


def find_problems(root: Element) -> list[Problem]:
    """The structural mistakes that make PMML4S fail without saying where, first one first."""
    problems = []
    for element in root.walk():
        required = REQUIRED_CHILDREN.get(element.tag)
        if required:
            for tag in required:
                if element.child(tag) is None:
                    why = WHY_REQUIRED.get(tag)
                    problems.append(
                        Problem(element.tag, element.line, f"<{element.tag}> has no <{tag}>" + (f" ({why})" if why else "") + ", which PMML requires")
                    )
        if element.tag == "Array":
            problem = _array_problem(element)
            if problem:
                problems.append(problem)
        if element.tag == "Node" and not any(c.tag in PREDICATES for c in element.children):
            problems.append(Problem("Node", element.line, f"<Node{_id(element)}> has no predicate (<True/>, <SimplePredicate>, ...), which PMML requires"))
    return problems


def _id(element: Element) -> str:
    return f' id="{element.attrs["id"]}"' if "id" in element.attrs else ""


def _mentioned(root: Element, engine_text: str) -> Problem | None:
    """An element carrying the value the engine quotes ('strin', "Absent"), if any."""
    for quoted in re.findall(r"'([^']{1,80})'|\"([^\"]{1,80})\"", engine_text):
        value = quoted[0] or quoted[1]
        for element in root.walk():
            for name, attr in element.attrs.items():
                if attr == value:
                    return Problem(element.tag, element.line, f'<{element.tag}> has {name}="{value}", which the evaluator refused')
    return None


def engine_text(exc: BaseException) -> tuple[str, str]:
    """(Java exception class, its message) from a pypmml error."""
    args = [str(a) for a in getattr(exc, "args", ()) if a]
    if len(args) >= 2:
        return args[0], " ".join(args[1:])
    if len(args) == 1 and re.fullmatch(r"\w+(Error|Exception)", args[0]):
        return args[0], ""  # a Java error without a message (StackOverflowError)
    return type(exc).__name__, args[0] if args else ""


def explain(path: Path, exc: BaseException) -> tuple[str, dict]:
    """A sentence saying what in the document is wrong (element, line), and the details."""
    kind, text = engine_text(exc)
    details = {"engine": "PMML4S", "engine_error": (f"{kind}: {text}" if text else kind)[:2000]}
    root = element_tree(path)
    problem = None
    if root is not None:
        problems = find_problems(root)
        problem = problems[0] if problems else _mentioned(root, text)
    if problem is not None:
        details.update(element=problem.element, line=problem.line)
        return f"The PMML document is invalid: {problem.sentence} (line {problem.line}).", details
    hint = ENGINE_HINTS.get(kind, "it does not follow the PMML standard in a way the evaluator cannot tell more precisely")
    said = f": {text[:300]}" if text and kind not in ("NullPointerException", "StackOverflowError") else ""
    return f"The PMML evaluator (PMML4S) refused this document: {hint}{said}. The evaluator's own message is in the details.", details
