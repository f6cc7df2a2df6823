//! Object storage for attachments, through `object_store`: a local directory in standalone
//! mode (the default), any S3-compatible service in cluster mode. Keys are
//! `attachments/<id>` and `thumbnails/<id>`; what may be stored and who may read it is
//! the chat's business (`chat/attachments.rs`).

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use secrecy::{ExposeSecret, SecretString};

/// Parts of one upload sent to the store at once (each `object_store`'s part size, 5
/// MiB): what an upload holds in memory at most.
const UPLOAD_PARTS_IN_FLIGHT: usize = 2;

/// Where attachments are kept.
#[derive(Debug, Clone)]
pub enum StorageSettings {
    /// A directory of this machine (created if missing).
    Directory(PathBuf),
    /// An S3 bucket.
    S3 {
        /// The bucket.
        bucket: String,
        /// The service's URL (for S3-compatible services); `None`: AWS.
        endpoint: Option<String>,
        /// The region.
        region: String,
        /// The access key id.
        access_key_id: String,
        /// The secret access key.
        secret_access_key: SecretString,
    },
}

/// Which object of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    /// The file itself.
    File,
    /// Its thumbnail.
    Thumbnail,
}

/// The store.
#[derive(Debug, Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
}

/// Part of an object being read.
pub struct Reading {
    /// The bytes' place in the object.
    pub range: Range<u64>,
    /// The object's whole size.
    pub size: u64,
    /// The bytes.
    pub bytes: BoxStream<'static, Result<Bytes, object_store::Error>>,
}

impl std::fmt::Debug for Reading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reading")
            .field("range", &self.range)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens the store `settings` name.
    pub fn open(settings: &StorageSettings) -> anyhow::Result<Self> {
        let store: Arc<dyn ObjectStore> = match settings {
            StorageSettings::Directory(dir) => {
                std::fs::create_dir_all(dir)?;
                Arc::new(LocalFileSystem::new_with_prefix(dir)?)
            }
            StorageSettings::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
            } => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key.expose_secret());
                if let Some(endpoint) = endpoint {
                    // S3-compatible services are addressed by path, and may be plain HTTP
                    // on a private network.
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_virtual_hosted_style_request(false)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                Arc::new(builder.build()?)
            }
        };
        Ok(Self { store })
    }

    /// Starts writing an object; bytes go out a part at a time.
    pub async fn writer(&self, id: &str, object: Object) -> Result<Writer, object_store::Error> {
        let upload = self.store.put_multipart(&path(id, object)).await?;
        Ok(Writer {
            parts: WriteMultipart::new(upload),
        })
    }

    /// Writes a small object whole.
    pub async fn put(
        &self,
        id: &str,
        object: Object,
        bytes: Bytes,
    ) -> Result<(), object_store::Error> {
        self.store
            .put(&path(id, object), PutPayload::from(bytes))
            .await
            .map(|_| ())
    }

    /// Reads an object whole (for objects known to be small enough).
    pub async fn read(&self, id: &str, object: Object) -> Result<Bytes, object_store::Error> {
        self.store.get(&path(id, object)).await?.bytes().await
    }

    /// Reads `range` of an object (all of it when `None`).
    pub async fn read_range(
        &self,
        id: &str,
        object: Object,
        range: Option<Range<u64>>,
    ) -> Result<Reading, object_store::Error> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let got = self.store.get_opts(&path(id, object), options).await?;
        Ok(Reading {
            range: got.range.clone(),
            size: got.meta.size,
            bytes: got.into_stream().boxed(),
        })
    }

    /// An object's size.
    pub async fn size(&self, id: &str, object: Object) -> Result<u64, object_store::Error> {
        Ok(self.store.head(&path(id, object)).await?.size)
    }

    /// Deletes an attachment's objects (those that exist).
    pub async fn delete(&self, id: &str) -> Result<(), object_store::Error> {
        for object in [Object::File, Object::Thumbnail] {
            match self.store.delete(&path(id, object)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// An object being written.
pub struct Writer {
    parts: WriteMultipart,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Adds `bytes`, first waiting while too many parts are in flight.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), object_store::Error> {
        self.parts.wait_for_capacity(UPLOAD_PARTS_IN_FLIGHT).await?;
        self.parts.write(bytes);
        Ok(())
    }

    /// Completes the object.
    pub async fn finish(self) -> Result<(), object_store::Error> {
        self.parts.finish().await.map(|_| ())
    }

    /// Gives the object up: nothing is stored.
    pub async fn abort(self) {
        if let Err(error) = self.parts.abort().await {
            tracing::warn!(%error, "could not abort an upload");
        }
    }
}

fn path(id: &str, object: Object) -> Path {
    match object {
        Object::File => Path::from_iter(["attachments", id]),
        Object::Thumbnail => Path::from_iter(["thumbnails", id]),
    }
}
