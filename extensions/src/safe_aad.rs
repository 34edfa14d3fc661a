//! Building and reading SafeAAD (§4.9).

use mlsx_base::codec::{decode, encode};

use crate::Error;
use crate::codec::{ComponentId, SafeAad, SafeAadItem};

impl SafeAad {
    /// The `authenticated_data` carrying these items, sorted by component
    /// id; one item per component.
    pub fn build(items: impl IntoIterator<Item = (ComponentId, Vec<u8>)>) -> Result<Vec<u8>, Error> {
        let mut aad_items: Vec<SafeAadItem> = items
            .into_iter()
            .map(|(component_id, data)| SafeAadItem {
                component_id,
                aad_item_data: data.into(),
            })
            .collect();
        aad_items.sort_by_key(|i| i.component_id);
        if aad_items.windows(2).any(|w| w[0].component_id == w[1].component_id) {
            return Err(Error::AadNotSafe);
        }
        Ok(encode(&Self { aad_items })?)
    }

    /// Reads an `authenticated_data` that must be exactly one SafeAAD with
    /// items in increasing component-id order (§4.9).
    pub fn parse(authenticated_data: &[u8]) -> Result<Self, Error> {
        let aad: Self = decode(authenticated_data).map_err(|_| Error::AadNotSafe)?;
        if aad.aad_items.windows(2).any(|w| w[0].component_id >= w[1].component_id) {
            return Err(Error::AadNotSafe);
        }
        Ok(aad)
    }

    /// The item of a component.
    pub fn get(&self, id: ComponentId) -> Option<&[u8]> {
        self.aad_items
            .iter()
            .find(|i| i.component_id == id)
            .map(|i| i.aad_item_data.as_slice())
    }
}
