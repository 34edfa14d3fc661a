//! The `apq_mls_info` component (0x0006) as the extensions layer sees it:
//! how AppDataUpdates of APQInfo apply (§5.1.1), and the `apq_psk` it
//! lends the T group's key schedule for one commit or Welcome (§5.2).

use std::sync::Mutex;

use mlsx_base::codec::{decode, encode};
use mlsx_base::crypto::Secret;
use mlsx_extensions::{APQ_MLS_INFO, Component, Origin, Rejection};

use crate::codec::{ApqInfo, ApqInfoUpdate};

/// The component `apq_mls_info` of one group of a session.
#[derive(Debug, Default)]
pub(crate) struct ApqComponent {
    /// `(apq_psk_id, apq_psk)` while a FULL commit or a Welcome of the T
    /// group is made or processed; taken away right after (§5.2: delete).
    psk: Mutex<Option<(Vec<u8>, Secret)>>,
    /// Whether the lent PSK was asked for since it was lent.
    used: std::sync::atomic::AtomicBool,
}

impl ApqComponent {
    pub(crate) fn lend_psk(&self, psk_id: Vec<u8>, psk: Secret) {
        self.used.store(false, std::sync::atomic::Ordering::SeqCst);
        *self.psk.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((psk_id, psk));
    }

    /// Takes the lent PSK back (deletes it); returns whether the T group
    /// used it.
    pub(crate) fn forget_psk(&self) -> bool {
        *self.psk.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        self.used.swap(false, std::sync::atomic::Ordering::SeqCst)
    }
}

fn reject(why: &str) -> Rejection {
    Rejection::new(why)
}

impl Component for ApqComponent {
    fn id(&self) -> u16 {
        APQ_MLS_INFO
    }

    fn validate_data(&self, _: mlsx_base::group::hooks::ExtensionContext, data: &[u8]) -> Result<(), Rejection> {
        decode::<ApqInfo>(data)
            .map(|_| ())
            .map_err(|e| Rejection::new(format!("APQInfo: {e}")))
    }

    /// §5.1.1: either one `full_update`, or `new_t_epoch` and
    /// `new_pq_epoch` applied to an existing APQInfo; only the epochs of an
    /// existing APQInfo may change.
    fn apply_updates(&self, current: Option<&[u8]>, updates: &[(&[u8], Origin)]) -> Result<Vec<u8>, Rejection> {
        let current: Option<ApqInfo> = current
            .map(decode)
            .transpose()
            .map_err(|_| reject("current APQInfo does not decode"))?;
        let parsed: Vec<ApqInfoUpdate> = updates
            .iter()
            .map(|(u, _)| decode(u))
            .collect::<Result<_, _>>()
            .map_err(|_| reject("APQInfoUpdate does not decode"))?;
        let new = match (parsed.as_slice(), current) {
            ([ApqInfoUpdate::FullUpdate(info)], None) => info.clone(),
            ([ApqInfoUpdate::FullUpdate(info)], Some(old)) => {
                if !old.same_session(info) {
                    return Err(reject("APQInfo: only the epochs may change"));
                }
                info.clone()
            }
            (
                [ApqInfoUpdate::NewTEpoch(t), ApqInfoUpdate::NewPqEpoch(pq)] | [ApqInfoUpdate::NewPqEpoch(pq), ApqInfoUpdate::NewTEpoch(t)],
                Some(old),
            ) => ApqInfo {
                t_epoch: *t,
                pq_epoch: *pq,
                ..old
            },
            (_, None) => return Err(reject("APQInfo: epoch updates without an APQInfo")),
            _ => return Err(reject("APQInfo: one full_update, or new_t_epoch with new_pq_epoch")),
        };
        encode(&new).map_err(|e| Rejection::new(e.to_string()))
    }

    /// APQInfo stays for the session's life.
    fn allow_remove(&self, _: &[u8], _: &Origin) -> Result<(), Rejection> {
        Err(reject("APQInfo cannot be removed"))
    }

    fn psk(&self, psk_id: &[u8]) -> Option<Secret> {
        let slot = self.psk.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*slot {
            Some((id, psk)) if id.as_slice() == psk_id => {
                self.used.store(true, std::sync::atomic::Ordering::SeqCst);
                Some(psk.duplicate())
            }
            _ => None,
        }
    }
}
