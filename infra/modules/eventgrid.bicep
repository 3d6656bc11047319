// Event Grid topics: the storage account's system topic (BlobCreated events of manifests) and the custom
// topic climatelake publishes its own events to (climatelake/events.py: Climatelake.Request.Succeeded and
// Climatelake.Request.Failed, Event Grid schema, subject /requests/<request_id>; docs/events.md).
// The manifest subscription is in modules/eventgrid-subscription.bicep: it needs the function deployed.

param systemTopicName string
param topicName string
param location string
param tags object = {}
param storageAccountName string

var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  location: location
  tags: tags
  // the identity writes dead letters to the account (no key)
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: account.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, systemTopic.id, blobDataContributor)
  scope: account
  properties: {
    principalId: systemTopic.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
  }
}

resource topic 'Microsoft.EventGrid/topics@2022-06-15' = {
  //checkov:skip=CKV_AZURE_192:Local auth stays on: climatelake/events.py publishes with the topic key (aeg-sas-key), held in Key Vault
  //checkov:skip=CKV_AZURE_193:Public network access: the Function app publishing to it has no VNet integration here
  name: topicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    inputSchema: 'EventGridSchema'
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: false
  }
}

output systemTopicName string = systemTopic.name
output topicName string = topic.name
output topicId string = topic.id
output topicEndpoint string = topic.properties.endpoint
