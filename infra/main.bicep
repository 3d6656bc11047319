// climatelake on Azure + Databricks, in the azd layout (azure.yaml at the repository root): `azd up`, or
// `az deployment sub create --location <region> --template-file infra/main.bicep --parameters ...`.
// One module per concern under modules/. docs/deploy.md walks through it; tests/test_infra.py checks it
// against the product (settings, containers, tables, the manifest subscription) and runs checkov on it.

targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name; names every resource and tags it azd-env-name.')
param environmentName string

@minLength(1)
@description('Region of every resource (it must offer Flex Consumption and Azure Databricks).')
param location string

@description('Object id of the deploying user (azd sets AZURE_PRINCIPAL_ID): data, Key Vault roles.')
param principalId string = ''

@description('The gateway image; azd deploy sets SERVICE_GATEWAY_IMAGE_NAME to the one it built.')
param gatewayImage string = 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'

@description('Subscribe on_manifest_created to the manifests container (needs the function deployed first).')
param subscribeManifests bool = false

@description('Unity Catalog catalog (CLIMATELAKE_CATALOG).')
param catalog string = 'climatelake'

@description('Databricks SQL warehouse id for SQL statements (CLIMATELAKE_SQL_WAREHOUSE_ID); set after deploy.')
param sqlWarehouseId string = ''

@description('Object id of the AzureDatabricks enterprise application in this tenant (Key Vault-backed scope).')
param azureDatabricksPrincipalId string = ''

var tags = {
  'azd-env-name': environmentName
}
var token = toLower(uniqueString(subscription().id, environmentName, location))

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: group
  params: {
    logAnalyticsName: 'log-${token}'
    applicationInsightsName: 'appi-${token}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: group
  params: {
    name: 'stlake${token}'
    location: location
    tags: tags
    principalId: principalId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: group
  params: {
    name: 'kv-${token}'
    location: location
    tags: tags
    principalId: principalId
    azureDatabricksPrincipalId: azureDatabricksPrincipalId
  }
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: group
  params: {
    systemTopicName: 'evgst-${token}'
    topicName: 'evgt-${token}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
  }
}

module secrets 'modules/secrets.bicep' = {
  name: 'secrets'
  scope: group
  params: {
    keyVaultName: keyVault.outputs.name
    storageAccountName: storage.outputs.name
    eventGridTopicName: eventGrid.outputs.topicName
  }
}

module databricks 'modules/databricks.bicep' = {
  name: 'databricks'
  scope: group
  params: {
    workspaceName: 'dbw-${token}'
    accessConnectorName: 'dbac-${token}'
    managedResourceGroupName: 'rg-${environmentName}-databricks'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
  }
}

// The variables climatelake/settings.py reads, shared by the Function app and the gateway: one list, so the
// two cannot drift. Secrets are Key Vault secret names, given to each app as a Key Vault reference. The
// apps' Databricks sign-in is not shared: each module gives its app its own managed identity (ARM_CLIENT_ID),
// which `climatelake deploy --target azure` adds to the workspace as that app's service principal.
var settings = {
  CLIMATELAKE_CATALOG: catalog
  CLIMATELAKE_WEATHER_JOB_NAME: 'climatelake_weather_request'
  CLIMATELAKE_INGEST_JOB_NAME: 'climatelake_weather_ingest'
  CLIMATELAKE_SQL_WAREHOUSE_ID: sqlWarehouseId
  CLIMATELAKE_EVENTGRID_TOPIC_ENDPOINT: eventGrid.outputs.topicEndpoint
  DATABRICKS_HOST: databricks.outputs.workspaceUrl
}
var secretSettings = {
  CLIMATELAKE_STORAGE_CONNECTION_STRING: 'storage-connection-string'
  CLIMATELAKE_EVENTGRID_TOPIC_KEY: 'eventgrid-topic-key'
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: group
  params: {
    name: 'func-${token}'
    planName: 'plan-${token}'
    hostStorageName: 'stfunc${token}'
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    databricksIdentityName: 'id-func-${token}'
    settings: settings
    secretSettings: secretSettings
    functionSettings: {
      // functions/recovery.py: the timer's NCRONTAB schedule and how long a request may sit unmoved
      CLIMATELAKE_RECOVERY_SCHEDULE: '0 */5 * * * *'
      CLIMATELAKE_RECOVERY_GRACE_SECONDS: '900'
    }
  }
  dependsOn: [
    secrets
  ]
}

module gateway 'modules/containerapp.bicep' = {
  name: 'containerapp'
  scope: group
  params: {
    name: 'ca-gateway-${token}'
    environmentName: 'cae-${token}'
    registryName: 'cr${token}'
    identityName: 'id-gateway-${token}'
    location: location
    tags: tags
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    keyVaultName: keyVault.outputs.name
    image: gatewayImage
    settings: settings
    secretSettings: secretSettings
  }
  dependsOn: [
    secrets
  ]
}

module manifestSubscription 'modules/eventgrid-subscription.bicep' = if (subscribeManifests) {
  name: 'eventgrid-subscription'
  scope: group
  params: {
    systemTopicName: eventGrid.outputs.systemTopicName
    functionAppName: functionApp.outputs.name
    storageAccountName: storage.outputs.name
    deadLetterContainer: storage.outputs.deadLetterContainer
  }
}

// azd writes these to .azure/<env>/.env; `climatelake deploy --target azure` reads them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = subscription().tenantId
output AZURE_RESOURCE_GROUP string = group.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_STORAGE_DFS_ENDPOINT string = storage.outputs.dfsEndpoint
output AZURE_DATABRICKS_WORKSPACE_URL string = databricks.outputs.workspaceUrl
output AZURE_DATABRICKS_WORKSPACE_ID string = databricks.outputs.workspaceId
output AZURE_DATABRICKS_WORKSPACE_NUMERIC_ID string = databricks.outputs.workspaceNumericId
output AZURE_ACCESS_CONNECTOR_ID string = databricks.outputs.accessConnectorId
output AZURE_KEY_VAULT_URI string = keyVault.outputs.uri
output AZURE_KEY_VAULT_RESOURCE_ID string = keyVault.outputs.id
output AZURE_EVENTGRID_TOPIC_ENDPOINT string = eventGrid.outputs.topicEndpoint
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = functionApp.outputs.url
output AZURE_FUNCTION_APP_IDENTITY_CLIENT_ID string = functionApp.outputs.databricksIdentityClientId
output AZURE_GATEWAY_IDENTITY_CLIENT_ID string = gateway.outputs.identityClientId
output AZURE_CONTAINER_APP_URL string = gateway.outputs.url
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = gateway.outputs.registryEndpoint
