/*
 * member-int.h -- what member.c shares with refresh.c: the flag of the
 * store refresh in flight (loop thread only). Not for other modules.
 */
#ifndef CP_MEMBER_INT_H
#define CP_MEMBER_INT_H

#include <stdbool.h>

#include "controlplane/member/member.h"

/* true when no refresh was in flight (one is now). */
bool cp_member__refresh_begin(struct cp_member *m);
void cp_member__refresh_done(struct cp_member *m);

#endif
