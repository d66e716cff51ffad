from rest_framework import serializers


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"})
    name = serializers.CharField(required=False, max_length=100, help_text="A name for the token (default: 'api').")


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The key; shown only once, send it as 'Authorization: Token <key>'.")
    name = serializers.CharField()
