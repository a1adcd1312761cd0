"""The example responses printed in the provider documents (shared/providers/*.txt), verbatim.

Keyed by (document, example heading as the document names it).
"""

_SIVI_IDS = {
    "queueWaitTime": 0,
    "requestId": "sbhMkIZKCPp",
    "designId": "97026520-1f1b-11f0-ada0-01392001fe46",
    "link": "https://instant.sivi.ai/#/design/97026520-1f1b-11f0-ada0-01392001fe46",
    "shareLink": "https://instant.sivi.ai/#/results/97026520-1f1b-11f0-ada0-01392001fe46",
}

SIVI_IMAGE = (
    "https://resources.hellosivi.com/user-data/e5ef6aa0-8d6c-11ec-bd33-8d2f1bec7c21/generated/"
    "sg0yMSZzNnU--97026520-1f1b-11f0-ada0-01392001fe46--sh0V7MlzOPm.jpg"
)

SIVI = {
    "Pending Request": {"status": 200, "body": {**_SIVI_IDS, "status": "pending", "result": None}},
    "In-Progress Request": {
        "status": 200,
        "body": {**_SIVI_IDS, "status": "processing", "progress": 45, "result": None},
    },
    "Completed Request": {
        "status": 200,
        "body": {
            **_SIVI_IDS,
            "status": "complete",
            "result": {
                "variations": [
                    {
                        "variantImageUrl": SIVI_IMAGE,
                        "variantEditLink": "https://instant.sivi.ai/#/variant/sh0V7MlzOPm/"
                        "independent-design-editor?type=edited",
                        "variantId": "sh0V7MlzOPm",
                    }
                ]
            },
        },
    },
    "Failed Request": {
        "status": 200,
        "body": {**_SIVI_IDS, "status": "failed", "reason": "Image url invalid", "result": None},
    },
}

_RIVYA_COMMON = {
    "id": "task_public_id",
    "model": "z-image",
    "reserved_credits": 1,
    "created_at": "2026-05-10T00:00:00.000Z",
    "updated_at": "2026-05-10T00:01:00.000Z",
}

RIVYA = {
    "Succeeded Response": {
        **_RIVYA_COMMON,
        "status": "succeeded",
        "final_credits": 1,
        "result": {
            "primary_url": "https://media.example/result.png",
            "urls": ["https://media.example/result.png"],
        },
        "error": None,
    },
    "Failed Response": {
        **_RIVYA_COMMON,
        "status": "failed",
        "final_credits": 0,
        "result": None,
        "error": {"code": "generation_failed", "message": "The generation failed."},
    },
}

SELLERPIC = {
    "200 - Example 1": {
        "code": 0,
        "data": {
            "resultList": [
                {"id": "string", "fileUrl": "string", "status": "string", "errorCode": 0,
                 "errorMsg": "string"}
            ]
        },
        "msg": "string",
        "success": True,
        "traceId": "string",
    },
}

CLIPIA = {
    "Response 200": {
        "request_id": "764cabcf-b745-4b3e-ae38-1200304cf45b",
        "status": "IN_PROGRESS",
        "queue_position": None,
        "progress": 45,
        "logs": [],
    },
}

# (document, example name, example, spec file, model module, top-level class)
ALL = [
    *[("sivi.txt", name, body, "sivi", "RequestStatusEnvelope") for name, body in SIVI.items()],
    *[("rivya.txt", name, body, "rivya", "Generation") for name, body in RIVYA.items()],
    *[("sellerpic.txt", name, body, "sellerpic", "GenerateStatusResponse")
      for name, body in SELLERPIC.items()],
    *[("clipia.txt", name, body, "clipia", "RequestStatus") for name, body in CLIPIA.items()],
]
