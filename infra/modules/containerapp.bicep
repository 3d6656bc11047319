// The gateway (./Dockerfile, flask_gateway under gunicorn) on Azure Container Apps, with the registry azd
// pushes its image to. A user-assigned identity pulls the image and resolves the Key Vault secrets: it
// exists, with its roles, before the app's first revision starts (a system-assigned one would not yet).
// The same identity is the gateway's Databricks principal: `climatelake deploy --target azure` adds its
// client ID to the workspace as the service principal climatelake-gateway, and the gateway signs in with
// it (ARM_USE_MSI + ARM_CLIENT_ID, climatelake/databricks_auth.py): no Databricks token.

param name string
param environmentName string
param registryName string
param identityName string
param location string
param tags object = {}

param logAnalyticsName string
param keyVaultName string

@description('The gateway image; azd deploy replaces the placeholder with the image it built from ./Dockerfile.')
param image string

@description('App settings by name (climatelake/settings.py variables with plain values).')
param settings object

@description('App settings whose value is a Key Vault secret: setting name → secret name.')
param secretSettings object

// gunicorn's port in ./Dockerfile (PORT, default 8000)
var port = 8000
var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  //checkov:skip=CKV_AZURE_137:Admin user is disabled (adminUserEnabled false); images are pulled by managed identity
  //checkov:skip=CKV_AZURE_139:Public network access: azd pushes from the developer's machine and Container Apps pulls without a VNet here
  //checkov:skip=CKV_AZURE_163:Vulnerability scanning is Defender for Containers, a subscription plan, not a registry property
  //checkov:skip=CKV_AZURE_166:Quarantine needs the Premium SKU
  //checkov:skip=CKV_AZURE_233:Zone redundancy needs the Premium SKU
  name: registryName
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

resource pull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, identity.id, acrPull)
  scope: registry
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPull)
  }
}

resource vaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, secretsUser)
  scope: vault
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
  }
}

// Logs go to Log Analytics through a diagnostic setting (destination azure-monitor), so the environment
// holds no workspace key.
resource appEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: environmentName
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
  }
}

resource environmentLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs'
  scope: appEnvironment
  properties: {
    workspaceId: logs.id
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

var plainEnv = [
  for setting in items(settings): {
    name: setting.key
    value: setting.value
  }
]

var secretEnv = [
  for setting in items(secretSettings): {
    name: setting.key
    secretRef: setting.value
  }
]

// Databricks sign-in as this identity (learn.microsoft.com/azure/databricks/dev-tools/auth/azure-mi)
var identityEnv = [
  {
    name: 'ARM_USE_MSI'
    value: 'true'
  }
  {
    name: 'ARM_CLIENT_ID'
    value: identity.properties.clientId
  }
]

var vaultSecrets = [
  for setting in items(secretSettings): {
    name: setting.value
    keyVaultUrl: '${vault.properties.vaultUri}secrets/${setting.value}'
    identity: identity.id
  }
]

var portEnv = [
  {
    name: 'PORT'
    value: string(port)
  }
]

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'gateway' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    managedEnvironmentId: appEnvironment.id
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: port
        transport: 'auto'
        allowInsecure: false
      }
      registries: [
        {
          server: registry.properties.loginServer
          identity: identity.id
        }
      ]
      secrets: vaultSecrets
    }
    template: {
      containers: [
        {
          name: 'gateway'
          image: image
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          env: concat(plainEnv, secretEnv, identityEnv, portEnv)
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: port
              }
              periodSeconds: 5
              failureThreshold: 12
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: port
              }
              periodSeconds: 15
              failureThreshold: 3
            }
            {
              // storage, workspace and catalog reachable (flask_gateway/health.py)
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: port
              }
              periodSeconds: 15
              failureThreshold: 3
            }
          ]
        }
      ]
      scale: {
        minReplicas: 0
        maxReplicas: 3
      }
    }
  }
  dependsOn: [
    pull
    vaultSecretsUser
  ]
}

output name string = app.name
output url string = 'https://${app.properties.configuration.ingress.fqdn}'
output registryEndpoint string = registry.properties.loginServer
output registryName string = registry.name
output identityPrincipalId string = identity.properties.principalId
output identityClientId string = identity.properties.clientId
