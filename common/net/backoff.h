// SPDX-License-Identifier: MPL-2.0
/*  backoff: the exponential retry delay of every reconnecting edge.

        int delay = TW_BACKOFF_FIRST;              // or a caller's min
        ... attempt fails: wait `delay`, then
        delay = tw_backoff_next(delay, 100, 5000); // 100, 200, 400 ... 5000
        ... attempt succeeds: delay = min again

    One pure function so that the stream writer's reconnections (TCP) and
    send pauses (UDP) follow the same schedule, and a unit test pins it.
*/
#ifndef TW_BACKOFF_H
#define TW_BACKOFF_H

//  Returns the delay after current_ms: double it, clamped to [min_ms, max_ms]
//  (a current below min_ms, 0 included, gives min_ms; no overflow near
//  INT_MAX). min_ms must be at least 1 and at most max_ms.
int tw_backoff_next(int current_ms, int min_ms, int max_ms);

#endif
