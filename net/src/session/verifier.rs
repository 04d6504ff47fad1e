//! Password verification off the gateway's thread. An Argon2 verification takes tens of milliseconds by design;
//! done inline it would stall every other session's traffic for that long at each login. The manager hands the
//! Login Request to this thread and carries on; the answer comes back through a channel it polls once per loop
//! iteration. Logins are rare, so the channels' allocations are not on the order path.

use super::users::{UserId, Users};
use crate::reactor::ConnId;
use crate::soupbin::LoginRequest;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

pub(crate) struct VerifyRequest {
    pub conn: ConnId,
    pub request: LoginRequest,
}

pub(crate) struct Verified {
    pub conn: ConnId,
    pub request: LoginRequest,
    pub user: Option<UserId>,
}

/// The manager's end of the verifier thread.
pub(crate) struct Verifier {
    requests: SyncSender<VerifyRequest>,
    results: Receiver<Verified>,
}

/// Why a login could not be handed to the verifier thread.
pub(crate) enum Handoff {
    Queued,
    /// The queue is full or the thread is gone: verify inline.
    Refused(LoginRequest),
}

impl Verifier {
    /// Starts the thread; `queue` bounds the logins waiting (one per connection at most is enough).
    pub fn spawn(users: Arc<Users>, queue: usize) -> std::io::Result<Verifier> {
        let (requests, incoming) = sync_channel::<VerifyRequest>(queue.max(1));
        let (answers, results) = sync_channel::<Verified>(queue.max(1));
        std::thread::Builder::new()
            .name(String::from("crossline-login"))
            .spawn(move || {
                while let Ok(VerifyRequest { conn, request }) = incoming.recv() {
                    let user = users.verify(&request.username, &request.password);
                    if answers
                        .send(Verified {
                            conn,
                            request,
                            user,
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            })?;
        Ok(Verifier { requests, results })
    }

    pub fn hand_off(&self, conn: ConnId, request: LoginRequest) -> Handoff {
        match self.requests.try_send(VerifyRequest { conn, request }) {
            Ok(()) => Handoff::Queued,
            Err(TrySendError::Full(back) | TrySendError::Disconnected(back)) => {
                Handoff::Refused(back.request)
            }
        }
    }

    /// The next finished verification, if any.
    pub fn try_next(&self) -> Option<Verified> {
        // Empty, or the thread is gone (its pending logins then time out): nothing to hand back.
        self.results.try_recv().ok()
    }
}
