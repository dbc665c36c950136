// Package retry holds the timing every layer of the module shares: a Clock
// that tells the time and waits (tests replace it), a Backoff with jitter for
// attempts that failed, and the readers of the waits servers ask for (HTTP
// Retry-After, Exchange Online's "Suggested Backoff Time").
//
//	b := retry.Backoff{Min: time.Second, Max: time.Minute}
//	for attempt := 1; ; attempt++ {
//		if err := try(ctx); err == nil {
//			break
//		}
//		if err := clock.Sleep(ctx, b.Delay(attempt)); err != nil {
//			return err
//		}
//	}
package retry
