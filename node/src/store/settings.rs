//! Server-wide settings kept in the database, such as the standalone JWT secret.

use confab_entities::{Secret, server_setting};
use rand::Rng;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set};

/// The key under which the generated JWT secret is stored.
const JWT_SECRET_KEY: &str = "jwt_secret";

/// The standalone JWT secret: generated on first use and kept, so tokens survive restarts.
///
/// Two processes starting on one database at once agree: the first insert wins and both
/// read back the stored value.
pub async fn jwt_secret(db: &DatabaseConnection) -> Result<String, DbErr> {
    if let Some(stored) = server_setting::Entity::find_by_id(JWT_SECRET_KEY)
        .one(db)
        .await?
    {
        return Ok(stored.value.expose().to_owned());
    }
    let generated: [u8; 32] = rand::rng().random();
    let generated: String = generated.iter().map(|byte| format!("{byte:02x}")).collect();
    server_setting::Entity::insert(server_setting::ActiveModel {
        key: Set(JWT_SECRET_KEY.to_owned()),
        value: Set(Secret::new(generated)),
    })
    .on_conflict_do_nothing()
    .exec(db)
    .await?;
    server_setting::Entity::find_by_id(JWT_SECRET_KEY)
        .one(db)
        .await?
        .map(|stored| stored.value.expose().to_owned())
        .ok_or_else(|| DbErr::RecordNotFound(JWT_SECRET_KEY.to_owned()))
}
