"""What pyproject.toml cannot say: the app's folders ride in the wheel as one package.

streamlit_app.py, app/ and app_pages/ install as `ser_explorer_app` (a top-level `app`
in site-packages could collide with another distribution's), so `ser app` serves the
app from any directory (ser_core/cli/serve.py finds it there). Everything else about
the build is in pyproject.toml.
"""

from setuptools import find_namespace_packages, find_packages, setup
from setuptools.command.build_py import build_py

APP = "ser_explorer_app"
app_folders = find_namespace_packages(include=["app", "app.*", "app_pages"], exclude=["*.__pycache__"])
package_dir = {APP: ".", **{f"{APP}.{name}": name.replace(".", "/") for name in app_folders}}


class BuildPy(build_py):
    """The app package is the repository root: of the modules there, only the entry belongs to it."""

    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if package != APP or m[1] == "streamlit_app"]


setup(packages=[*find_packages(include=["ser_core", "ser_core.*"]), *package_dir], package_dir=package_dir,
      cmdclass={"build_py": BuildPy})
