// Key Vault in RBAC mode: the storage connection string, the Event Grid topic key and the Databricks token
// the apps read through Key Vault references, and the PII encryption keys (climatelake/pii.py, provider
// "keyvault"). Nobody gets an access policy; roles are granted where each identity is made.

param name string
param location string
param tags object = {}

@description('Object id of the deploying user: Key Vault Secrets Officer, to set the Databricks token and PII keys.')
param principalId string = ''

@description('Object id of the AzureDatabricks enterprise application in this tenant, for the Key Vault-backed secret scope (empty: not granted).')
param azureDatabricksPrincipalId string = ''

var secretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  //checkov:skip=CKV_AZURE_189:Public network access: see CKV_AZURE_109 (no private endpoint without a VNet)
  //checkov:skip=CKV_AZURE_109:Firewall default Deny needs VNet integration of the apps (Key Vault references) and of Databricks (secret scope); none here
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enablePurgeProtection: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource userSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(vault.id, principalId, secretsOfficer)
  scope: vault
  properties: {
    principalId: principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsOfficer)
  }
}

resource databricksSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(azureDatabricksPrincipalId)) {
  name: guid(vault.id, azureDatabricksPrincipalId, secretsUser)
  scope: vault
  properties: {
    principalId: azureDatabricksPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
