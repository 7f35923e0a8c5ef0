"""Package list for setuptools: the Hydra config groups live at the top-level ``conf/`` of the
repository (as the design card lays out) and are shipped inside the wheel as the package
``soen_train.conf`` (``package-dir`` in pyproject.toml maps one onto the other). The
pyproject ``packages.find`` table cannot add a package that lives outside the folder it scans,
hence this file; everything else is configured in pyproject.toml."""

from setuptools import find_namespace_packages, setup

CONF_GROUPS = find_namespace_packages(where="conf", exclude=["local", "local.*"])

setup(
    packages=[
        *find_namespace_packages(include=["soen_train*", "hydra_plugins*"]),
        "soen_train.conf",
        *(f"soen_train.conf.{group}" for group in CONF_GROUPS),
    ],
)
