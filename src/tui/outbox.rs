//! `Outbox<T>`: where a background job sends its answers, without knowing the app's
//! message type or which screen asked (the runner wraps and addresses them).
//! Not responsible for routing or ordering the answers: that is the runner's and `App`'s.

use std::sync::Arc;

/// The receiving side is gone (the app is quitting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// A cloneable sink for a job's answers of type `T`.
pub struct Outbox<T> {
    send: Arc<dyn Fn(T) -> bool + Send + Sync>,
}

impl<T> Clone for Outbox<T> {
    fn clone(&self) -> Self {
        Outbox {
            send: self.send.clone(),
        }
    }
}

impl<T> Outbox<T> {
    /// A sink calling `send` per answer (`send` says whether the answer was taken).
    pub fn new(send: impl Fn(T) -> bool + Send + Sync + 'static) -> Outbox<T> {
        Outbox {
            send: Arc::new(send),
        }
    }

    /// Sends one answer; `Err(Closed)` when nobody listens any more.
    pub fn send(&self, answer: T) -> Result<(), Closed> {
        if (self.send)(answer) {
            Ok(())
        } else {
            Err(Closed)
        }
    }
}

impl<T> std::fmt::Debug for Outbox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbox")
    }
}
