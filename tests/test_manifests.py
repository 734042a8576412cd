"""Manifests: placeholders filled, missing or malformed ones named with the file."""
import pytest

from fixtures import manifests


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.setattr(manifests, "MANIFESTS", tmp_path)
    return tmp_path


def test_placeholders_are_filled_and_booleans_are_yaml(tree):
    (tree / "m.yaml").write_text("kind: ConfigMap\nmetadata: {name: ${name}}\ndata: {enabled: '${flag}'}\n---\n")
    assert manifests.render("m.yaml", name="x", flag=True) == [{"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"enabled": "true"}}]


def test_a_missing_value_names_the_placeholder_and_file(tree):
    (tree / "m.yaml").write_text("metadata: {name: ${name}, ns: ${namespace}}\n")
    with pytest.raises(manifests.ManifestError, match=r"m.yaml: no value for placeholder \$\{namespace\}"):
        manifests.render("m.yaml", name="x")


def test_a_stray_dollar_names_the_file(tree):
    (tree / "m.yaml").write_text("# costs $5\nmetadata: {name: x}\n")
    with pytest.raises(manifests.ManifestError, match=r"m.yaml: Invalid placeholder.*write a literal \$ as \$\$"):
        manifests.render("m.yaml")


def test_an_unknown_manifest_is_named(tree):
    with pytest.raises(manifests.ManifestError, match="no manifest"):
        manifests.render("nope.yaml")


def test_every_image_role_has_an_offline_and_an_online_image():
    assert set(manifests.image_roles("offline")) == set(manifests.image_roles("online")) >= {"agnhost", "busybox", "nginx"}


def test_an_image_role_with_dashes_is_a_placeholder_with_underscores(tree):
    (tree / "m.yaml").write_text("image: ${image_sample_device_plugin}\n")
    params = manifests.image_params({"sample-device-plugin": "kubeproof/sample-device-plugin:1.8.0", "agnhost": "a:1"})
    assert params == {"image_sample_device_plugin": "kubeproof/sample-device-plugin:1.8.0", "image_agnhost": "a:1"}
    assert manifests.render("m.yaml", **params) == [{"image": "kubeproof/sample-device-plugin:1.8.0"}]
