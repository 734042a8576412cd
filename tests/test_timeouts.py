"""Named timeouts: the add-ons' budgets read like the core's, scaled with them, and never shadow a core one."""
import pytest

from fixtures.timeouts import Timeouts


def test_an_addon_budget_reads_like_a_core_one_and_scales_with_it():
    t = Timeouts().with_addon_budgets([("xds_push", 60.0)]).scaled(2)
    assert (t.xds_push, t.pod_start, t.interval) == (120.0, 120.0, 0.25)


def test_an_unknown_budget_names_the_ones_there_are():
    with pytest.raises(AttributeError, match=r"no timeout budget 'mesh_pod_start'.*the add-ons of this run \['xds_push'\]"):
        Timeouts().with_addon_budgets([("xds_push", 60.0)]).mesh_pod_start


def test_an_addon_budget_may_not_shadow_a_core_one():
    with pytest.raises(ValueError, match="pod_start"):
        Timeouts().with_addon_budgets([("pod_start", 1.0)])
