//! The `app_data_dictionary` extension (§4.6) and the lists of §5.

use mlsx_base::codec::{Extension, ExtensionType, decode, encode, find_extension};

use crate::Error;
use crate::codec::{AppDataDictionary, ComponentData, ComponentId, ComponentsList};

impl AppDataDictionary {
    /// Decodes a dictionary and checks that its entries are sorted by
    /// component id with at most one each (§4.6 MUST).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let d: Self = decode(bytes).map_err(Error::from)?;
        if let Some(w) = d.component_data.windows(2).find(|w| w[0].component_id >= w[1].component_id) {
            return Err(Error::UnsortedDictionary(w[1].component_id));
        }
        Ok(d)
    }

    /// The dictionary in an extension list under `extension_type`, if any.
    pub fn find(extensions: &[Extension], extension_type: ExtensionType) -> Result<Option<Self>, Error> {
        find_extension(extensions, extension_type)
            .map(|e| Self::parse(e.extension_data.as_slice()))
            .transpose()
    }

    /// The entry of a component.
    pub fn get(&self, id: ComponentId) -> Option<&[u8]> {
        self.position(id).ok().map(|i| self.component_data[i].data.as_slice())
    }

    /// Sets the entry of a component, keeping the order.
    pub fn set(&mut self, id: ComponentId, data: Vec<u8>) {
        let entry = ComponentData {
            component_id: id,
            data: data.into(),
        };
        match self.position(id) {
            Ok(i) => self.component_data[i] = entry,
            Err(i) => self.component_data.insert(i, entry),
        }
    }

    /// Removes the entry of a component; returns whether it was present.
    pub fn remove(&mut self, id: ComponentId) -> bool {
        match self.position(id) {
            Ok(i) => {
                self.component_data.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// The components with an entry, in order.
    pub fn ids(&self) -> impl Iterator<Item = ComponentId> + '_ {
        self.component_data.iter().map(|c| c.component_id)
    }

    /// The dictionary as an extension of type `extension_type`.
    pub fn to_extension(&self, extension_type: ExtensionType) -> Result<Extension, Error> {
        Ok(Extension::new(extension_type, encode(self)?))
    }

    fn position(&self, id: ComponentId) -> Result<usize, usize> {
        self.component_data.binary_search_by_key(&id, |c| c.component_id)
    }
}

impl ComponentsList {
    /// A list of these ids.
    pub fn of(ids: impl IntoIterator<Item = ComponentId>) -> Self {
        Self {
            component_ids: ids.into_iter().collect(),
        }
    }

    /// Decodes a list. Unknown and GREASE ids are kept (receivers ignore
    /// them, §5.1).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        Ok(decode(bytes)?)
    }

    /// Whether the list names `id`.
    pub fn contains(&self, id: ComponentId) -> bool {
        self.component_ids.contains(&id)
    }
}
