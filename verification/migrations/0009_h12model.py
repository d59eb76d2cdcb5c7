from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('verification', '0008_model_evaluations'),
    ]

    operations = [
        migrations.AddField(
            model_name='modelversion',
            name='model_card',
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
