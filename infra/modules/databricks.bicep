// Azure Databricks, premium tier (Unity Catalog needs it), and the Access Connector whose managed identity
// Unity Catalog's storage credential uses (climatelake deploy --target azure makes the credential, the
// external locations and the catalog from this module's outputs). The connector gets Storage Blob Data
// Contributor on the lake account: Databricks reaches the lake with it, never with a key.

param workspaceName string
param accessConnectorName string
param managedResourceGroupName string
param location string
param tags object = {}
param storageAccountName string

var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource connector 'Microsoft.Databricks/accessConnectors@2024-05-01' = {
  name: accessConnectorName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {}
}

resource lakeAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, connector.id, blobDataContributor)
  scope: account
  properties: {
    principalId: connector.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
  }
}

resource workspace 'Microsoft.Databricks/workspaces@2024-05-01' = {
  //checkov:skip=CKV2_AZURE_48:Customer-managed key for DBFS root: Microsoft-managed encryption is enough for this sample (a CMK needs a Key Vault key and the workspace's encryption settings)
  //checkov:skip=CKV_AZURE_158:Public network access: no VNet injection or Private Link in this sample (it would need a VNet, subnets and NSGs)
  name: workspaceName
  location: location
  tags: tags
  sku: {
    name: 'premium'
  }
  properties: {
    managedResourceGroupId: subscriptionResourceId('Microsoft.Resources/resourceGroups', managedResourceGroupName)
    publicNetworkAccess: 'Enabled'
    parameters: {
      enableNoPublicIp: {
        value: true
      }
    }
  }
}

output workspaceName string = workspace.name
output workspaceId string = workspace.id
// the numeric id the Databricks account API names a workspace by (metastore assignment)
output workspaceNumericId string = workspace.properties.workspaceId
output workspaceUrl string = 'https://${workspace.properties.workspaceUrl}'
output accessConnectorId string = connector.id
output accessConnectorPrincipalId string = connector.identity.principalId
