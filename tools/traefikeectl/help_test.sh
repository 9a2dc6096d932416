#!/bin/sh
# help_test.sh TRAEFIKEECTL -- every command that calls a control node says,
# in its --help, how to connect: --control, --bundle and --insecure; the
# local-only ones (translate, install, uninstall) do not need to.
set -u
bin=$1
rc=0
for cmd in version list-nodes events apply get delete history rollback \
    create reset-password tokens revoke; do
    out=$("$bin" "$cmd" --help 2>&1) || { echo "FAIL $cmd --help: exit $?"; rc=1; continue; }
    for want in --control --bundle --insecure TRAEFIKEE_BUNDLE; do
        case $out in
        *"$want"*) ;;
        *) echo "FAIL $cmd --help does not mention $want"; rc=1 ;;
        esac
    done
done
[ $rc = 0 ] && echo "ok: every connecting command's --help names its credentials"
exit $rc
