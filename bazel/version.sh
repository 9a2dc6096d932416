#!/bin/sh
# Workspace status for stamped rules (common/version): the git commit.
echo "STABLE_GIT_COMMIT $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
