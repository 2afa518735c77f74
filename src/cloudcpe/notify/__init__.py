"""SOL005 subscriptions and notifications: who wants to hear of what (`Subscription`), the
outbox of notifications to deliver (`Notification`, written in the transaction of the change
it reports) and the background delivery with retries and exponential backoff."""
