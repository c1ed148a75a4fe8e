"""Container image references: which images are HAProxy.

A reference is `[registry[:port]/]path[:tag][@digest]`. The registry is the first component when it contains
a `.` or `:` or is `localhost` (the Docker reference grammar); it never matters here because only the path
and its last segment are compared.
"""

from __future__ import annotations

import fnmatch
import functools

HAPROXY_IMAGE_NAMES = frozenset({"haproxy", "haproxy-alpine", "haproxy-debian", "haproxy-ubuntu"})


def image_repository(image: str) -> str:
    """The repository path of an image reference, without registry, tag or digest, lower-cased."""
    reference = image.strip().split("@", 1)[0]
    last_slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > last_slash:
        reference = reference[:colon]
    components = reference.split("/")
    if len(components) > 1 and ("." in components[0] or ":" in components[0] or components[0] == "localhost"):
        components = components[1:]
    return "/".join(components).lower()


@functools.lru_cache(maxsize=4096)
def is_haproxy_image(image: str, extra_patterns: tuple[str, ...] = ()) -> bool:
    """True for the official and distribution HAProxy images, or an image matching a configured glob.

    Cached: a cluster runs few distinct images. Extra patterns are shell globs matched against the repository path (`team/*haproxy*`) and against its
    last segment (`my-haproxy`).
    """
    repository = image_repository(image)
    if not repository:
        return False
    last_segment = repository.rsplit("/", 1)[-1]
    if last_segment in HAPROXY_IMAGE_NAMES:
        return True
    return any(
        fnmatch.fnmatchcase(repository, pattern) or fnmatch.fnmatchcase(last_segment, pattern)
        for pattern in extra_patterns
    )
