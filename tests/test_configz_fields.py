"""/configz field names differ in case between versions: both forms read the same."""
from fixtures.control_plane_pods import _fields


def test_internal_and_v1_field_names_read_alike_at_every_depth():
    old = _fields({"Profiles": [{"SchedulerName": "default-scheduler", "Plugins": {"MultiPoint": {"Enabled": [{"Name": "A", "Weight": 3}]}}}]})
    new = _fields({"profiles": [{"schedulerName": "default-scheduler", "plugins": {"multiPoint": {"enabled": [{"name": "A", "weight": 3}]}}}]})
    for config in (old, new):
        p = config["Profiles"][0]
        assert p["SchedulerName"] == "default-scheduler" and "schedulerName" in p
        assert [(e["Name"], e["Weight"]) for e in p["Plugins"]["MultiPoint"]["Enabled"]] == [("A", 3)]
    assert old.get("missing") is None and "missing" not in new
