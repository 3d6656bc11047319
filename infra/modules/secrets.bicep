// The secrets the apps read through Key Vault references. Made here from the resources' own keys (listKeys
// at deployment time), so no key is ever typed, printed or kept in a parameter file, and each is in exactly
// one place. No Databricks token is among them: each app signs in to Databricks with its own managed
// identity (climatelake/databricks_auth.py).

param keyVaultName string
param storageAccountName string
param eventGridTopicName string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource topic 'Microsoft.EventGrid/topics@2022-06-15' existing = {
  name: eventGridTopicName
}

// climatelake/settings.py CLIMATELAKE_STORAGE_CONNECTION_STRING (the product authenticates to Blob and
// Table storage with it; see modules/storage.bicep on why this account keeps shared key access).
resource storageConnectionString 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:The value is the account key, rotated with the key (az storage account keys renew, then azd provision), not on a calendar; an expiry would stop the apps
  parent: vault
  name: 'storage-connection-string'
  properties: {
    contentType: 'text/plain; connection-string'
    value: 'DefaultEndpointsProtocol=https;AccountName=${account.name};AccountKey=${account.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}'
  }
}

// climatelake/settings.py CLIMATELAKE_EVENTGRID_TOPIC_KEY (climatelake/events.py publishes with a key).
resource eventGridTopicKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  //checkov:skip=CKV_AZURE_41:The value is the topic's key, rotated with the key (az eventgrid topic key regenerate, then azd provision), not on a calendar
  parent: vault
  name: 'eventgrid-topic-key'
  properties: {
    contentType: 'text/plain; key'
    value: topic.listKeys().key1
  }
}
