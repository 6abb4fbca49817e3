"""System libraries the Python wheels load, and the Debian package that provides each.

A wheel that needs a shared library the system lacks fails to load with the library's
file name (its soname) in the error, e.g. vosk's aarch64 wheel on a bare Raspberry Pi
OS: "cannot load library .../libvosk.so: libatomic.so.1: cannot open shared object
file".  `missing_library` finds that name and `apt_install` turns it into the command
that fixes it (install.sh installs the same packages).
"""

from __future__ import annotations

import re

# soname -> the Debian (and Raspberry Pi OS) package that provides it.
SONAME_PACKAGES: dict[str, str] = {
    "libatomic.so.1": "libatomic1",
    "libportaudio.so.2": "libportaudio2",
    "libespeak-ng.so.1": "libespeak-ng1",
    "libspeexdsp.so.1": "libspeexdsp1",
    "libstdc++.so.6": "libstdc++6",
    "libgomp.so.1": "libgomp1",
    "libgfortran.so.5": "libgfortran5",
    "libopenblas.so.0": "libopenblas0",
    "libsndfile.so.1": "libsndfile1",
}

# How the dynamic loader (through ctypes, cffi or an extension import) names a library
# it cannot find: "libatomic.so.1: cannot open shared object file: No such file ...".
_NOT_FOUND = re.compile(r"([A-Za-z0-9_.+-]+\.so(?:\.[0-9]+)*): cannot open shared object file")


def missing_library(error: BaseException | str) -> str | None:
    """The soname a loader error says is missing, or None if it says something else."""
    match = _NOT_FOUND.search(str(error))
    return match.group(1) if match else None


def package_for(soname: str) -> str | None:
    """The Debian package that provides `soname`, when known."""
    return SONAME_PACKAGES.get(soname)


def apt_install(soname: str) -> str:
    """The command that installs `soname`, or how to find its package when it is not known."""
    package = package_for(soname)
    if package is not None:
        return f"sudo apt install {package}"
    return f"install the package that provides {soname} (`apt-file search {soname}` names it)"
