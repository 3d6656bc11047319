// BlobCreated events of the manifests container → the function on_manifest_created
// (functions/manifest_created.py). Event Grid checks that an Azure Function destination exists when the
// subscription is made, so main.bicep deploys this module only once the function code is deployed
// (azure.yaml's postdeploy hook sets CLIMATELAKE_SUBSCRIBE_MANIFESTS and provisions again).
// The local stack declares the same subscription for its Event Grid stand-in (emulators/stack.py);
// tests/test_infra.py checks the two agree.

param systemTopicName string
param functionAppName string

@description('Container (in the same account) that undeliverable events are written to.')
param deadLetterContainer string

param storageAccountName string

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource manifestCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'manifest-created'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionApp.id}/functions/on_manifest_created'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.Storage.BlobCreated'
      ]
      subjectBeginsWith: '/blobServices/default/containers/manifests/'
    }
    // Azure's defaults, written out: 30 attempts within a day, then the dead-letter container
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: account.id
          blobContainerName: deadLetterContainer
        }
      }
    }
  }
}

output name string = manifestCreated.name
