// The data account: every container and table climatelake reads or writes, and the lake (ADLS Gen2, so
// Unity Catalog's external locations and abfss:// paths work). Names come from climatelake/settings.py's
// defaults; tests/test_infra.py checks that every container and table the code uses is declared here.

@description('Globally unique storage account name (3-24 lower-case letters and digits).')
param name string
param location string
param tags object = {}

@description('Object id of the deploying user, given blob and table data roles for bootstrap uploads.')
param principalId string = ''

// The product's containers (Settings.*_container) and Event Grid's dead-letter container.
var containerNames = [
  'manifests'
  'rejected'
  'raw'
  'lake'
  'results'
  'audit'
  'eventgrid-deadletter'
]

// The product's tables (Settings.requests_table, Settings.keys_table).
var tableNames = [
  'requests'
  'apikeys'
]

var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var tableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

// Shared key stays on for this account only: climatelake authenticates to Blob and Table storage with a
// connection string (climatelake/settings.py CLIMATELAKE_STORAGE_CONNECTION_STRING; status.py, keys.py,
// audit.py, lake.py build their clients from it), so its key is put in Key Vault once (modules/secrets.bicep)
// and the apps read it through Key Vault references. Everything else (Databricks' access connector, the
// Functions host, Event Grid's dead letters) reaches this account by managed identity.
resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_206:LRS keeps the sample deployment cheap; choose ZRS or GRS for production
  //checkov:skip=CKV_AZURE_59:No VNet here: Flex Consumption, Container Apps, Event Grid and Databricks serverless reach the account over its public endpoint, authenticated (Entra ID, or the key held in Key Vault)
  //checkov:skip=CKV_AZURE_35:Default action Deny needs a VNet or private endpoints for every caller above; see CKV_AZURE_59
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    isHnsEnabled: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: true
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    accessTier: 'Hot'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for container in containerNames: {
    parent: blobs
    name: container
    properties: {
      publicAccess: 'None'
    }
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for table in tableNames: {
    parent: tableService
    name: table
  }
]

resource userBlobData 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(account.id, principalId, blobDataContributor)
  scope: account
  properties: {
    principalId: principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
  }
}

resource userTableData 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(account.id, principalId, tableDataContributor)
  scope: account
  properties: {
    principalId: principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableDataContributor)
  }
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output dfsEndpoint string = account.properties.primaryEndpoints.dfs
output deadLetterContainer string = 'eventgrid-deadletter'
