// The Function app (function_app.py + functions/, Python v2 model) on Flex Consumption, with its own host
// storage account that allows no shared key: the host, its deployment package and its triggers' state all
// use the app's system-assigned identity. The app's own settings are climatelake/settings.py's variables;
// secrets among them are Key Vault references, resolved with the same identity. A user-assigned identity is
// the app's Databricks principal (a system-assigned identity's client ID is not known to the template, and
// the deploy adds the principal by it): `climatelake deploy --target azure` adds it as climatelake-functions
// and the functions sign in with it (ARM_USE_MSI + ARM_CLIENT_ID, climatelake/databricks_auth.py).

param name string
param planName string
param hostStorageName string
param location string
param tags object = {}

param applicationInsightsName string
param keyVaultName string

@description('The user-assigned identity the functions sign in to Databricks with.')
param databricksIdentityName string

@description('App settings by name (climatelake/settings.py variables with plain values).')
param settings object

@description('App settings whose value is a Key Vault secret: setting name → secret name.')
param secretSettings object

@description('Settings only the Function app reads (the recovery timer\'s schedule and grace).')
param functionSettings object

param maximumInstanceCount int = 40
param instanceMemoryMB int = 2048

var deploymentContainer = 'app-package'
var blobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var queueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var tableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var metricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
var hostRoles = [
  blobDataOwner
  queueDataContributor
  tableDataContributor
]

resource insights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource databricksIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: databricksIdentityName
  location: location
  tags: tags
}

// The Functions host's own storage (AzureWebJobsStorage, the deployment package): identity only.
resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_43:The name is a parameter (main.bicep: stfunc + uniqueString, lower-case letters and digits, 19 characters); checkov reads the parameter's identifier as the name
  //checkov:skip=CKV_AZURE_206:LRS: the host's state and package are rebuilt by a deployment
  //checkov:skip=CKV_AZURE_59:Flex Consumption without VNet integration reaches its host storage over the public endpoint (Entra ID only: shared key is off)
  //checkov:skip=CKV_AZURE_35:Default action Deny needs VNet integration of the app; see CKV_AZURE_59
  name: hostStorageName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource hostBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostStorage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: hostBlobs
  name: deploymentContainer
  properties: {
    publicAccess: 'None'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:Zone redundancy on Flex Consumption needs always-ready instances (billed while idle); not for this sample
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

// Flex Consumption sets the runtime in functionAppConfig (no FUNCTIONS_WORKER_RUNTIME setting).
var hostSettings = [
  {
    name: 'AzureWebJobsStorage__accountName'
    value: hostStorage.name
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: insights.properties.ConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'Authorization=AAD'
  }
]

var plainSettings = [
  for setting in items(union(settings, functionSettings)): {
    name: setting.key
    value: setting.value
  }
]

// Databricks sign-in as the user-assigned identity (learn.microsoft.com/azure/databricks/dev-tools/auth/azure-mi)
var identitySettings = [
  {
    name: 'ARM_USE_MSI'
    value: 'true'
  }
  {
    name: 'ARM_CLIENT_ID'
    value: databricksIdentity.properties.clientId
  }
]

var vaultSettings = [
  for setting in items(secretSettings): {
    name: setting.key
    value: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${setting.value})'
  }
]

resource app 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_17:Client certificates: Event Grid and Databricks' webhooks present none; job_events needs a function key, the Event Grid trigger the system key
  //checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero on events; a minimum instance count would be billed while idle
  //checkov:skip=CKV_AZURE_213:The Function app serves no health endpoint; the Functions host is monitored by the platform (the gateway has /healthz probes)
  //checkov:skip=CKV_AZURE_222:Public access: the webhooks from Event Grid and Databricks come over the internet
  //checkov:skip=CKV_AZURE_16:The app has identities: type 'SystemAssigned, UserAssigned' (one of the ManagedServiceIdentity types of Microsoft.Web/sites); the check passes only 'SystemAssigned' or 'UserAssigned' alone
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'functions' })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned, UserAssigned'
    userAssignedIdentities: {
      '${databricksIdentity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: 'SystemAssigned'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: concat(hostSettings, plainSettings, identitySettings, vaultSettings)
    }
  }
}

resource hostStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in hostRoles: {
    name: guid(hostStorage.id, app.id, role)
    scope: hostStorage
    properties: {
      principalId: app.identity.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

resource vaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, app.id, secretsUser)
  scope: vault
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
  }
}

resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, app.id, metricsPublisher)
  scope: insights
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', metricsPublisher)
  }
}

output name string = app.name
output id string = app.id
output url string = 'https://${app.properties.defaultHostName}'
output principalId string = app.identity.principalId
output databricksIdentityClientId string = databricksIdentity.properties.clientId
