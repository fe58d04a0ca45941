"""Exposed names: legal for GLM, deterministic, collision-free."""

from __future__ import annotations

import random

from glm_mcp.naming import assign_names, is_legal, plain_name


def test_legal_names_are_kept_as_server_double_underscore_tool() -> None:
    assert plain_name("files", "read_file") == "files__read_file"


def test_illegal_characters_become_underscores() -> None:
    assert plain_name("my.server", "get/item v2") == "my_server__get_item_v2"


def test_long_names_are_cut_to_64_with_a_stable_hash() -> None:
    name = plain_name("server", "t" * 120)
    assert len(name) == 64 and is_legal(name)
    assert name == plain_name("server", "t" * 120)
    assert name != plain_name("server", "t" * 119 + "u")


def test_hashed_names_are_pinned_so_an_upgrade_never_renames_a_users_tools() -> None:
    # Editors remember tool names (approvals, allow lists); a changed hash would silently rename tools.
    assert plain_name("server", "t" * 120) == "server__ttttttttttttttttttttttttttttttttttttttttttttttt_4206853a"
    long = "create_or_update_file_contents_in_a_repository_with_a_very_long_name"
    assert plain_name("github", long) == "github__create_or_update_file_contents_in_a_repository__a67e1b5e"
    assert assign_names([("s", "a.b"), ("s", "a_b"), ("s", "a b")]) == {
        ("s", "a b"): "s__a_b_496b0969",
        ("s", "a.b"): "s__a_b_f7700fde",
        ("s", "a_b"): "s__a_b",
    }


def test_colliding_names_all_survive_and_an_untouched_name_keeps_its_form() -> None:
    names = assign_names([("s", "a.b"), ("s", "a_b"), ("s", "a b")])
    assert names[("s", "a_b")] == "s__a_b"
    assert len(set(names.values())) == 3
    assert all(is_legal(name) for name in names.values())


def test_names_do_not_depend_on_arrival_order() -> None:
    pairs = [("s", "x.y"), ("s", "x_y"), ("t", "x" * 100), ("t", "x" * 101), ("u", "ok")]
    expected = assign_names(pairs)
    for seed in range(5):
        shuffled = pairs[:]
        random.Random(seed).shuffle(shuffled)
        assert assign_names(shuffled) == expected
