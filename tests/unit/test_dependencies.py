from plugin_operator.dependencies import find_cycle


def test_no_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}, "a") is None


def test_two_node_cycle_is_reported_as_a_path() -> None:
    assert find_cycle({"a": ["b"], "b": ["a"]}, "a") == ["a", "b", "a"]


def test_self_dependency() -> None:
    assert find_cycle({"a": ["a"]}, "a") == ["a", "a"]


def test_cycle_elsewhere_does_not_involve_start() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["b"]}, "a") is None


def test_long_cycle_and_unknown_dependencies() -> None:
    graph = {"a": ["x", "b"], "b": ["c"], "c": ["d"], "d": ["a"]}
    assert find_cycle(graph, "a") == ["a", "b", "c", "d", "a"]
